import type { AuthMethod, CredentialType } from './credential-type.js';
import { ApiKeyCredential } from './key-auth/api-key-credential.js';
import type { ApiKeyLocations } from './key-auth/api-key-credential.js';
import type { SecretHasher } from './secret-hasher.js';

export interface CredentialRegistryOptions {
  readonly hasher: SecretHasher;
  readonly apiKeyLocations?: ApiKeyLocations;
}

/**
 * The credential types keygate knows, built from one explicit list (no scanning). Routes name
 * types by `name`; the change feed maps a stored `(type, lookup)` to a cache key through here.
 */
export class CredentialRegistry {
  readonly keyAuth: ApiKeyCredential;
  readonly #byName: ReadonlyMap<string, CredentialType>;

  constructor(options: CredentialRegistryOptions) {
    this.keyAuth = new ApiKeyCredential({ hasher: options.hasher, locations: options.apiKeyLocations });
    const builtIns: readonly CredentialType[] = [this.keyAuth];
    const byName = new Map<string, CredentialType>();
    for (const type of builtIns) {
      if (byName.has(type.name)) throw new Error(`credential type ${type.name} registered twice`);
      byName.set(type.name, type as CredentialType);
    }
    this.#byName = byName;
  }

  get(name: string): CredentialType | undefined {
    return this.#byName.get(name);
  }

  names(): readonly AuthMethod[] {
    return [...this.#byName.keys()] as AuthMethod[];
  }

  /** The cache key of a stored credential, or null for a type this build does not know. */
  cacheKey(type: string, lookup: string): Buffer | null {
    return this.#byName.get(type)?.cacheKey(lookup) ?? null;
  }
}
