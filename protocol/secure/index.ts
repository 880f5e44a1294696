// Public surface of the secure channel.
export {
  PAIRING_PROTOCOL,
  SESSION_PROTOCOL,
  PRECHECK_PROLOGUE,
  MAX_CHANNEL_NONCE,
  MAX_PLAINTEXT,
  SecureChannel,
  pairingCode,
  generateStaticKeyPair,
  keyPairFromPrivate,
  privateKeyFromRaw,
  publicKeyFromRaw,
  rawPrivateKey,
  rawPublicKey,
  type SealedMessage,
  type StaticKeyPair,
} from './channel.ts';
export { PairingInitiator, PairingResponder, type PairingResult, type PairingOptions } from './pairing.ts';
export {
  SessionInitiator,
  SessionResponder,
  hostHint,
  HOST_HINT_LENGTH,
  type SessionResult,
  type SessionInitiatorOptions,
  type SessionResponderOptions,
} from './session.ts';
export { HandshakeState, type HandshakeOptions, type TransportPair } from './noise-handshake.ts';
export { CipherState } from './noise-cipher.ts';
