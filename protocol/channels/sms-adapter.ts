// The SMS adapter interface: what the service's payer notices and the bridge's phone-capture
// channel need from an SMS provider. A provider integration implements it (an HTTP call to the
// provider's API); tests implement it in memory. Types only: no I/O here.

export interface SmsMessage {
  /** Stable id of this message; a provider that supports it should deduplicate on it. */
  id: string;
  /** Recipient in E.164 (+ and up to 15 digits), already validated by the caller. */
  to: string;
  /** Plain text. Never a card number: brand and last four at most. */
  text: string;
}

export interface SmsAdapter {
  /** Resolves when the provider accepted the message; rejects with SmsSendError otherwise. */
  send(message: SmsMessage): Promise<void>;
}

/** A provider refusal; `retryable` false means retrying the same message cannot succeed. */
export class SmsSendError extends Error {
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean) {
    super(message);
    this.name = 'SmsSendError';
    this.retryable = retryable;
  }
}
