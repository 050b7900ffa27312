import { X509Certificate } from 'node:crypto';
import type { CheckInput } from '../../pipeline/check-input.js';
import { Reason } from '../../pipeline/reason-codes.js';
import type { CredentialType, Extraction, Verification, VerifyContext } from '../credential-type.js';
import { ABSENT, hashedCacheKey, NO_CARRIER, whenFound } from '../credential-type.js';

const MAX_PRINCIPAL_LENGTH = 2048;

export interface PresentedPrincipal {
  readonly principal: string;
}

/**
 * `mtls`: the peer identity of a mutual-TLS connection as Envoy reports it —
 * `attributes.source.principal` (Istio: `spiffe://cluster.local/ns/NS/sa/SA`), or, when Envoy's
 * `include_peer_certificate` is on and no principal is given, the first URI SAN of the peer
 * certificate. It maps to a consumer through a credential of type `mtls` whose `lookup` is the
 * principal. Nothing to strip: the identity travels in the connection, not a header.
 */
export class MtlsCredential implements CredentialType<PresentedPrincipal> {
  readonly name = 'mtls' as const;
  readonly challenge = '';

  extract(input: CheckInput): Extraction<PresentedPrincipal> {
    let principal = input.sourcePrincipal;
    if (principal === '' && input.sourceCertificate !== '') {
      const fromCert = principalFromCertificate(input.sourceCertificate);
      if (fromCert === null) return { kind: 'malformed', detail: 'peer certificate has no usable URI SAN', carrier: NO_CARRIER };
      principal = fromCert;
    }
    if (principal === '') return ABSENT;
    if (principal.length > MAX_PRINCIPAL_LENGTH) return { kind: 'malformed', detail: 'principal too long', carrier: NO_CARRIER };
    return { kind: 'found', presented: { principal }, carrier: NO_CARRIER };
  }

  verify(presented: PresentedPrincipal, ctx: VerifyContext): Verification | Promise<Verification> {
    return whenFound(ctx.resolver.find(this.cacheKey(presented.principal), this.name, presented.principal), (record): Verification =>
      (record === null ? { ok: false, reason: Reason.unknown_credential } : { ok: true, identity: { method: this.name, record, scopes: record.scopes } }));
  }

  cacheKey(lookup: string): Buffer {
    return hashedCacheKey(this.name, lookup);
  }
}

/** The first URI SAN (SPIFFE id) of a URL-encoded PEM certificate; null when none or unparsable. */
export function principalFromCertificate(urlEncodedPem: string): string | null {
  try {
    const cert = new X509Certificate(decodeURIComponent(urlEncodedPem));
    const san = cert.subjectAltName ?? '';
    for (const part of san.split(/,\s*/)) {
      if (part.startsWith('URI:')) return part.slice(4);
    }
    return null;
  } catch {
    return null;
  }
}
