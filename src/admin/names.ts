/** What names keygate accepts; shared by the admin API, the CLI and the importers. */

/** Usernames, custom ids, set names: 1–255 of letters, digits and `. _ @ : + -`. */
export const NAME_PATTERN = /^[A-Za-z0-9._@:+\-]{1,255}$/;
/** Roles and scopes: 1–128 of letters, digits and `. _ : / -` (no commas: roles travel comma-joined). */
export const ROLE_PATTERN = /^[A-Za-z0-9._:/\-]{1,128}$/;
