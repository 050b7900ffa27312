import { BasicCredential } from './basic-auth/basic-credential.js';
import type { LegacySecretVerifier } from './basic-auth/legacy-secrets.js';
import type { AuthMethod, CredentialType } from './credential-type.js';
import { ApiKeyCredential } from './key-auth/api-key-credential.js';
import type { ApiKeyLocations } from './key-auth/api-key-credential.js';
import { MtlsCredential } from './mtls/mtls-credential.js';
import type { SecretHasher } from './secret-hasher.js';

export interface CredentialRegistryOptions {
  readonly hasher: SecretHasher;
  readonly apiKeyLocations?: ApiKeyLocations;
  readonly basicHeaders?: readonly string[];
  /** Verifies imported (scrypt, Kong SHA-1) basic-auth secrets; null: such credentials never pass. */
  readonly legacySecrets?: LegacySecretVerifier | null;
  /** Types configured from the policy file (JWT issuers, introspection), added after the built-ins. */
  readonly extra?: readonly CredentialType[];
}

/**
 * The credential types keygate knows, built from one explicit list (no scanning). Routes name
 * types by `name`; the change feed maps a stored `(type, lookup)` to a cache key through here.
 */
export class CredentialRegistry {
  readonly keyAuth: ApiKeyCredential;
  readonly basicAuth: BasicCredential;
  readonly #byName: ReadonlyMap<string, CredentialType>;
  readonly #names: readonly AuthMethod[];

  constructor(options: CredentialRegistryOptions) {
    this.keyAuth = new ApiKeyCredential({ hasher: options.hasher, locations: options.apiKeyLocations });
    this.basicAuth = new BasicCredential({ hasher: options.hasher, headers: options.basicHeaders, legacy: options.legacySecrets ?? null });
    const builtIns: readonly CredentialType[] = [
      this.keyAuth as CredentialType,
      this.basicAuth as CredentialType,
      new MtlsCredential() as CredentialType,
      ...(options.extra ?? []),
    ];
    const byName = new Map<string, CredentialType>();
    for (const type of builtIns) {
      if (byName.has(type.name)) throw new Error(`credential type ${type.name} registered twice`);
      byName.set(type.name, type);
    }
    this.#byName = byName;
    this.#names = Object.freeze([...byName.keys()] as AuthMethod[]);
  }

  get(name: string): CredentialType | undefined {
    return this.#byName.get(name);
  }

  names(): readonly AuthMethod[] {
    return this.#names;
  }
}
