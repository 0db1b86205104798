/**
 * Signing and verifying the `manifest` of a Mender artifact, as mender-artifact does: RSA with
 * PKCS#1 v1.5 + SHA-256, or ECDSA P-256 + SHA-256 with the raw 64-byte r||s signature;
 * `manifest.sig` holds standard base64 without a trailing newline. Keys are PEM: PKCS#1, SEC1
 * or PKCS#8 private keys; SPKI or PKCS#1 public keys.
 */
import { constants, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { OciDeltaError } from '../errors.js';

function loadKey(pem: string, kind: 'private' | 'public'): KeyObject {
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (err) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `cannot read the ${kind} signing key: ${(err as Error).message}`,
      { field: kind === 'private' ? 'signingKey' : 'publicKey' },
      { cause: err },
    );
  }
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return key;
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return key;
  throw new OciDeltaError(
    'ERR_INVALID_OPTIONS',
    `unsupported ${kind} key type ${type}${type === 'ec' ? ` (${key.asymmetricKeyDetails?.namedCurve})` : ''}: Mender artifacts are signed with RSA or ECDSA P-256`,
    { field: kind === 'private' ? 'signingKey' : 'publicKey', keyType: type },
  );
}

/** Sign the exact manifest bytes; returns the `manifest.sig` content (base64, no newline). */
export function signManifest(manifest: Uint8Array, privateKeyPem: string): string {
  const key = loadKey(privateKeyPem, 'private');
  const sig =
    key.asymmetricKeyType === 'rsa'
      ? sign('sha256', manifest, { key, padding: constants.RSA_PKCS1_PADDING })
      : sign('sha256', manifest, { key, dsaEncoding: 'ieee-p1363' });
  return sig.toString('base64');
}

/**
 * Verify `manifest.sig` (base64) over the manifest bytes with a PEM public key (a private key
 * works too). ECDSA signatures may be raw r||s (what mender-artifact writes) or DER.
 */
export function verifyManifestSignature(
  manifest: Uint8Array,
  signature: string,
  publicKeyPem: string,
): boolean {
  const key = loadKey(publicKeyPem, 'public');
  const text = signature.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return false;
  const sig = Buffer.from(text, 'base64');
  if (key.asymmetricKeyType === 'rsa') {
    return verify('sha256', manifest, { key, padding: constants.RSA_PKCS1_PADDING }, sig);
  }
  try {
    return verify('sha256', manifest, { key, dsaEncoding: sig.length === 64 ? 'ieee-p1363' : 'der' }, sig);
  } catch {
    return false;
  }
}
