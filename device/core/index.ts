export { DeviceCore, type DeviceCoreOptions, type DeviceInfo, type DeviceStatus, type PairedHostsApi } from './device-core.ts';
export { provision, loadIdentity, isProvisioned, type DeviceIdentity, type ProvisionOptions } from './identity.ts';
export { type VerifyRequest, type VerifyResult } from './local-auth.ts';
export { type TransferState, NO_TRANSFER } from './transfer-receiver.ts';
export { FACTORY_FIRMWARE_VERSION, type FirmwareInfo, type BootCheckResult, type RollbackReason } from './firmware-receiver.ts';
export { encodeFirmwareImage, decodeFirmwareImage, type FirmwareImage } from './firmware-image.ts';
