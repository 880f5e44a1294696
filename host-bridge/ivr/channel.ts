// The phone channel assembled: the capture flow (VoiceXML documents over the bridge's own verify
// pipeline) and, when a Dialler is given, call-back campaigns. Enabled by passing `ivr` to
// startBridge; the Dialler and the SMS adapter are the telephony and SMS providers' integrations.
import type { Logger } from 'pino';
import type { SmsAdapter } from '../../protocol/channels/sms-adapter.ts';
import { ApiError } from '../api/error-map.ts';
import type { VerifyPipeline } from '../pipeline/verify-pipeline.ts';
import { CallbackCampaigns, type CampaignOptions, type Dialler } from './campaigns.ts';
import { CaptureFlow, type CaptureOptions } from './capture-flow.ts';

export interface IvrOptions {
  /** The telephony platform's outbound-call API; without it only call-ins are served. */
  dialler?: Dialler | null;
  sms?: SmsAdapter | null;
  /** Base URL the platform reaches the bridge at (default: the bridge's own URL). */
  publicUrl?: string;
  defaultLang?: string;
  capture?: Omit<CaptureOptions, 'pipeline' | 'logger'>;
  campaigns?: Omit<CampaignOptions, 'dataDir' | 'flow' | 'dialler' | 'sms' | 'logger' | 'publicUrl'>;
}

export class IvrChannel {
  readonly flow: CaptureFlow;
  readonly campaigns: CallbackCampaigns | null;
  readonly defaultLang: string;
  private url: string;

  constructor(o: IvrOptions, deps: { pipeline: VerifyPipeline; logger: Logger; dataDir: string; merchantCountry: string | null; lang: string }) {
    this.defaultLang = o.defaultLang ?? deps.lang;
    this.url = o.publicUrl ?? '';
    this.flow = new CaptureFlow({ ...o.capture, pipeline: deps.pipeline, logger: deps.logger });
    this.campaigns = o.dialler
      ? new CallbackCampaigns({
          defaultRegion: deps.merchantCountry,
          defaultLang: this.defaultLang,
          ...o.campaigns,
          dataDir: deps.dataDir,
          flow: this.flow,
          dialler: o.dialler,
          sms: o.sms ?? null,
          logger: deps.logger,
          publicUrl: () => this.url,
        })
      : null;
  }

  publicUrl(): string {
    return this.url;
  }

  requireCampaigns(): CallbackCampaigns {
    if (!this.campaigns) throw new ApiError('NOT_CONFIGURED', 'call-backs need a Dialler (ivr.dialler) on this bridge');
    return this.campaigns;
  }

  /** Called once the bridge listens (its URL is the default public URL). */
  start(bridgeUrl: string): void {
    if (!this.url) this.url = bridgeUrl;
    this.campaigns?.start();
  }

  async close(): Promise<void> {
    this.campaigns?.pause();
    this.flow.closeAll();
    await this.campaigns?.stop();
  }
}
