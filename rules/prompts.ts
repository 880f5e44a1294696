// Customer-facing prompt texts. A dataset may carry its own texts (per code and language); these
// are the built-in defaults so a device always has something to show.
import type { Prompt } from '../protocol/dataset/types.ts';

export const PROMPT_CODES = [
  'use_another_card',
  'try_smaller_amount',
  'try_again_later',
  'enable_international',
  'check_card_details',
  'contact_issuer',
  'authenticate',
  'payment_review',
] as const;
export type PromptCode = (typeof PROMPT_CODES)[number];

export const DEFAULT_PROMPTS: Readonly<Record<PromptCode, { en: string; zh: string }>> = {
  use_another_card: {
    en: 'This card cannot be used for this payment. Please use another card.',
    zh: '此卡无法用于本次支付，请使用其他卡。',
  },
  try_smaller_amount: {
    en: 'The payment was not approved for this amount. Try a smaller amount or another card.',
    zh: '该金额的支付未获批准，请尝试较小金额或使用其他卡。',
  },
  try_again_later: {
    en: 'Your card issuer is temporarily unavailable. Please try again in a few minutes.',
    zh: '发卡行暂时无法处理，请几分钟后重试。',
  },
  enable_international: {
    en: 'Your card is not enabled for international payments. Please enable international payments with your bank, or use another card.',
    zh: '您的卡未开通境外支付，请联系发卡银行开通国际支付，或使用其他卡。',
  },
  check_card_details: {
    en: 'Please check the card number, expiry date and security code.',
    zh: '请核对卡号、有效期和安全码。',
  },
  contact_issuer: {
    en: 'Your bank declined a recent payment with this card. Please contact your bank or use another card.',
    zh: '您的银行近期拒绝了此卡的支付，请联系您的银行或使用其他卡。',
  },
  authenticate: {
    en: 'Your bank requires additional verification. Please complete the authentication step.',
    zh: '您的银行需要额外验证，请完成身份认证。',
  },
  payment_review: {
    en: 'Your payment needs an additional check before it can proceed.',
    zh: '您的支付需要额外审核后才能继续。',
  },
};

export interface ResolvedPrompt {
  code: string;
  lang: string;
  message: string;
}

/** "zh-CN" → "zh"; lower-cased primary subtag. */
function primary(lang: string): string {
  return lang.split('-')[0].toLowerCase();
}

/**
 * Text for a prompt code: dataset prompt in the exact language, then in its primary language,
 * then the built-in default in that language, then English (dataset first, then built-in).
 * Returns null only for a code nobody knows.
 */
export function resolvePrompt(code: string, lang: string | undefined, prompts: readonly Prompt[] = []): ResolvedPrompt | null {
  const want = (lang ?? 'en').toLowerCase();
  const base = primary(want);
  const ofCode = prompts.filter((p) => p.code === code);
  const exact = ofCode.find((p) => p.lang.toLowerCase() === want) ?? ofCode.find((p) => primary(p.lang) === base);
  if (exact) return { code, lang: exact.lang, message: exact.message };
  const builtIn = (DEFAULT_PROMPTS as Record<string, { en: string; zh: string } | undefined>)[code];
  if (builtIn && (base === 'en' || base === 'zh')) return { code, lang: base, message: builtIn[base] };
  const en = ofCode.find((p) => primary(p.lang) === 'en');
  if (en) return { code, lang: en.lang, message: en.message };
  if (builtIn) return { code, lang: 'en', message: builtIn.en };
  return null;
}
