/** The vocabulary of `seedData.ts`: real Cameroonian names and ministry acronyms. */

const words = (text: string): readonly string[] => text.trim().split(/\s+/);

/** Family and first names per cultural area, so a generated pair stays plausible. */
export const AREAS: ReadonlyArray<{ families: readonly string[]; firsts: readonly string[] }> = [
  {
    // Centre, South, East (Beti, Bulu, Ewondo…)
    families: words(
      'Mbarga Ngono Abena Atangana Essomba Owona Mballa Onana Nkoulou Ndzié Mvondo Ateba Bella Zambo Ekotto',
    ),
    firsts: words(
      'Jean-Paul Marie-Claire Serge Brigitte Hervé Gisèle Thérèse Yannick Pélagie Joseph Chantal Martial Béatrice Léopold Solange',
    ),
  },
  {
    // West (Bamiléké)
    families: words(
      'Fotso Kamga Tchakounté Fokou Nana Tagne Djoumessi Kenfack Tchatchoua Nguimfack Wandji Simo Talla Kouam',
    ),
    firsts: words(
      'Aurélien Josiane Christian Clarisse Rodrigue Armelle Blaise Nadège Guy-Roger Félicité Landry Carine',
    ),
  },
  {
    // Littoral (Douala, Bassa)
    families: words("Eto'o Ndjock Ekambi Moukoko Ebongue Din Njoh Eboa Kotto Dikoumé Nyobe Bassogog"),
    firsts: words('Samuel Rigobert Estelle Patrice Ruth Achille Viviane Roger Sandrine Francis'),
  },
  {
    // North, Adamawa, Far North (Fulani, Kotoko…)
    families: words(
      'Bello Hamadou Oumarou Aboubakar Yaya Mohamadou Daouda Bouba Adamou Moussa Ibrahim Saïdou',
    ),
    firsts: words(
      'Aminatou Hamadou Oumarou Hadidja Moussa Fadimatou Issa Ramatou Abdoulaye Haoua Alim Djamila',
    ),
  },
  {
    // North-West and South-West (anglophone)
    families: words('Ndifor Achu Fru Tanyi Nkwenti Ayuk Enow Besong Ngwa Tabi Agbor Fon Ebai'),
    firsts: words(
      'Emmanuel Comfort Blessing Divine Ebenezer Gladys Prosper Mercy Godlove Precious Clement Vivian',
    ),
  },
];

/** Ministries with rough weights: teachers (MINESEC, MINEDUB) and health staff dominate the payroll. */
export const MINISTRIES: ReadonlyArray<readonly [string, number]> = Object.entries({
  MINESEC: 22,
  MINEDUB: 20,
  MINSANTE: 10,
  MINFI: 5,
  MINDEF: 5,
  MINFOP: 4,
  MINJUSTICE: 4,
  MINADER: 4,
  MINAT: 3,
  MINTP: 3,
  MINESUP: 3,
  MINREX: 2,
  MINEPAT: 2,
  MINCOM: 2,
  MINPOSTEL: 2,
  MINTSS: 2,
  MINEE: 2,
  MINHDU: 2,
  MINCOMMERCE: 2,
  MINMIDT: 1,
});
