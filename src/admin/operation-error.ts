/** Stable error codes of the admin API and CLI, each with its HTTP status. */
export const OperationErrorCode = {
  /** The request body or a parameter is not valid; `field` names which. */
  invalid_request: 400,
  /** Missing or wrong admin token. */
  unauthorized: 401,
  /** No such consumer, credential or route. */
  not_found: 404,
  /** A unique value (username, custom_id) is taken. */
  conflict: 409,
  /** The body is larger than the admin API accepts. */
  payload_too_large: 413,
  /** The store could not be reached. */
  store_unavailable: 503,
} as const;

export type OperationErrorCodeName = keyof typeof OperationErrorCode;

export class OperationError extends Error {
  readonly code: OperationErrorCodeName;
  readonly field: string | null;

  constructor(code: OperationErrorCodeName, message: string, field: string | null = null) {
    super(message);
    this.name = 'OperationError';
    this.code = code;
    this.field = field;
  }

  get status(): number {
    return OperationErrorCode[this.code];
  }
}
