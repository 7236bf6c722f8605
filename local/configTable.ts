/**
 * The README's configuration table, rendered from the settings table (`functions/commons/settings.ts`) so
 * that no default, variable name or allowed range is written twice. `npm run docs:config` rewrites it
 * between the markers; test/configTable.test.ts fails when the README and the table disagree.
 */
import { allowedValues } from '../functions/commons/config.js';
import { SETTING_DOCS, type SettingDoc } from '../functions/commons/settingDocs.js';
import { SETTINGS, type Setting } from '../functions/commons/settings.js';

export const TABLE_START = '<!-- config:start -->';
export const TABLE_END = '<!-- config:end -->';

/** The Markdown table, header included, one row per setting in the table's order. */
export function renderConfigTable(): string {
  const rows = Object.entries(SETTINGS).map(([name, s]) => {
    const doc: SettingDoc = SETTING_DOCS[name as keyof typeof SETTINGS];
    return `| \`${s.env}\` | ${cell(defaultText(s, doc))} | ${cell(allowedValues(s))} | ${cell(doc.meaning)} |`;
  });
  return ['| Variable | Default | Allowed | Meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** `readme` with the text between the markers replaced by the rendered table. Throws without the markers. */
export function withConfigTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start === -1 || end < start) throw new Error(`README.md needs ${TABLE_START} … ${TABLE_END} markers`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${renderConfigTable()}\n${readme.slice(end)}`;
}

function defaultText(s: Setting, doc: SettingDoc): string {
  if (doc.defaultText !== undefined) return doc.defaultText;
  if (s.default === undefined) return '—';
  if (s.default === '') return "`''`";
  return typeof s.default === 'number' ? String(s.default) : `\`${s.default}\``;
}

/** A `|` inside a cell would end it. */
function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}
