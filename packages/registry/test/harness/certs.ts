/** Self-signed EC (P-256) certificates made with the real `openssl`, for TLS and token signing in tests. */
import { execFileSync } from 'node:child_process';

/** Where to write the key and certificate, and what they name. */
export interface SelfSignedCertOptions {
  keyFile: string;
  certFile: string;
  /** The certificate's subject, e.g. `/CN=127.0.0.1`. */
  subject: string;
  /** A subjectAltName extension value, e.g. `IP:127.0.0.1,DNS:localhost`. */
  subjectAltName?: string;
  /** Days the certificate is valid (default 2). */
  days?: number;
}

/** Write an unencrypted P-256 private key and a self-signed certificate for it (`openssl req -x509`). */
export function makeSelfSignedCert(options: SelfSignedCertOptions): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      options.keyFile,
      '-out',
      options.certFile,
      '-days',
      String(options.days ?? 2),
      '-subj',
      options.subject,
      ...(options.subjectAltName !== undefined
        ? ['-addext', `subjectAltName=${options.subjectAltName}`]
        : []),
    ],
    { stdio: 'ignore' },
  );
}
