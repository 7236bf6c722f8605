/** One pass/fail line of the chaos report; its own module so that check producers need not import the report. */
export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}
