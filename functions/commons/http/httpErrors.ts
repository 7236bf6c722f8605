/**
 * Errors only the HTTP edge raises: they describe the request, not the domain, so they live here rather
 * than in `shared/errors.ts`. Each carries its status; domain errors are mapped in `commons/http/response.ts`.
 */
import { AppError } from '../../../shared/errors.js';

export type HttpErrorCode =
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'METHOD_NOT_ALLOWED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE';

const STATUS: Record<HttpErrorCode, number> = {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
};

export class HttpError extends AppError {
  readonly code: HttpErrorCode;
  readonly status: number;
  /** Extra response headers (`Allow` on 405, `WWW-Authenticate` on 401/403). */
  readonly headers: Record<string, string>;

  constructor(
    code: HttpErrorCode,
    message: string,
    opts: { details?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(message, { details: opts.details });
    this.code = code;
    this.status = STATUS[code];
    this.headers = opts.headers ?? {};
  }
}
