// What the phone flow says, per language. The decision's own prompt (Precheck's customer message,
// in the caller's language) is read back as the verify pipeline returned it; these are only the
// flow's frame. Unknown languages fall back to English.

export interface IvrPhrases {
  welcome: (amount: string, order: string) => string;
  menu: string;
  enterCard: string;
  enterExpiry: string;
  enterCvc: string;
  enterIdentity: (label: string) => string;
  badCard: string;
  badExpiry: string;
  badIdentity: string;
  noMatch: string;
  noInput: string;
  approved: string;
  declined: string;
  review: string;
  retryMenu: string;
  tooManyErrors: string;
  timeout: string;
  goodbye: string;
  unavailable: string;
}

const en: IvrPhrases = {
  welcome: (amount, order) => `Welcome. You are paying ${amount} for order ${order}.`,
  menu: 'To pay by card, press 1. To hear the amount again, press 2.',
  enterCard: 'Please enter your card number, then press the hash key.',
  enterExpiry: 'Please enter the expiry date: two digits for the month, two for the year.',
  enterCvc: 'Please enter the security code from the back of your card.',
  enterIdentity: (label) => `Please enter your ${label}, then press the hash key.`,
  badCard: 'That card number is not valid.',
  badExpiry: 'That expiry date is not valid.',
  badIdentity: 'That does not match our records.',
  noMatch: 'Sorry, I did not get that.',
  noInput: 'Sorry, I did not hear anything.',
  approved: 'Thank you. Your card was accepted.',
  declined: 'Your card cannot be used for this payment.',
  review: 'Your payment needs a further check.',
  retryMenu: 'To try another card, press 1. To end the call, press 2.',
  tooManyErrors: 'Too many attempts. We will contact you again.',
  timeout: 'We did not receive your entry. We will contact you again.',
  goodbye: 'Goodbye.',
  unavailable: 'This payment call is no longer valid. Goodbye.',
};

const zh: IvrPhrases = {
  welcome: (amount, order) => `您好，您正在为订单${order}支付${amount}。`,
  menu: '刷卡支付请按1，重听金额请按2。',
  enterCard: '请输入您的卡号，以井号键结束。',
  enterExpiry: '请输入卡片有效期，月份两位，年份两位。',
  enterCvc: '请输入卡片背面的安全码。',
  enterIdentity: (label) => `请输入您的${label}，以井号键结束。`,
  badCard: '您输入的卡号无效。',
  badExpiry: '您输入的有效期无效。',
  badIdentity: '您输入的信息与记录不符。',
  noMatch: '对不起，没有听清。',
  noInput: '对不起，没有收到您的输入。',
  approved: '谢谢，您的卡已通过验证。',
  declined: '您的卡不能用于本次支付。',
  review: '您的支付需要进一步审核。',
  retryMenu: '换一张卡请按1，结束通话请按2。',
  tooManyErrors: '尝试次数过多，我们会再与您联系。',
  timeout: '没有收到您的输入，我们会再与您联系。',
  goodbye: '再见。',
  unavailable: '本次支付通话已失效，再见。',
};

const fr: IvrPhrases = {
  welcome: (amount, order) => `Bonjour. Vous payez ${amount} pour la commande ${order}.`,
  menu: 'Pour payer par carte, tapez 1. Pour réentendre le montant, tapez 2.',
  enterCard: 'Veuillez saisir votre numéro de carte, puis la touche dièse.',
  enterExpiry: "Veuillez saisir la date d'expiration : deux chiffres pour le mois, deux pour l'année.",
  enterCvc: 'Veuillez saisir le cryptogramme au dos de votre carte.',
  enterIdentity: (label) => `Veuillez saisir votre ${label}, puis la touche dièse.`,
  badCard: "Ce numéro de carte n'est pas valide.",
  badExpiry: "Cette date d'expiration n'est pas valide.",
  badIdentity: 'Cela ne correspond pas à nos informations.',
  noMatch: "Désolé, je n'ai pas compris.",
  noInput: "Désolé, je n'ai rien entendu.",
  approved: 'Merci. Votre carte a été acceptée.',
  declined: 'Votre carte ne peut pas être utilisée pour ce paiement.',
  review: 'Votre paiement nécessite une vérification supplémentaire.',
  retryMenu: "Pour essayer une autre carte, tapez 1. Pour terminer l'appel, tapez 2.",
  tooManyErrors: 'Trop de tentatives. Nous vous recontacterons.',
  timeout: "Nous n'avons pas reçu votre saisie. Nous vous recontacterons.",
  goodbye: 'Au revoir.',
  unavailable: "Cet appel de paiement n'est plus valable. Au revoir.",
};

const PHRASES: Record<string, IvrPhrases> = { en, zh, fr };

export function ivrPhrases(lang: string): IvrPhrases {
  return PHRASES[lang.toLowerCase().split('-')[0]] ?? en;
}

/** Identity labels the merchant may require, per language. */
export const IDENTITY_LABELS: Record<string, Record<string, string>> = {
  postcode: { en: 'postcode', zh: '邮政编码', fr: 'code postal' },
  idLast4: { en: 'last four digits of your identity document', zh: '身份证号码后四位', fr: "quatre derniers chiffres de votre pièce d'identité" },
  birthYear: { en: 'year of birth', zh: '出生年份', fr: 'année de naissance' },
};

export function identityLabel(name: string, lang: string): string {
  const l = IDENTITY_LABELS[name];
  return l?.[lang.toLowerCase().split('-')[0]] ?? l?.en ?? name;
}

/** The SMS to a cardholder whose phone capture did not complete (no card data, ever). */
export function ivrSms(lang: string, orderId: string): string {
  switch (lang.toLowerCase().split('-')[0]) {
    case 'zh':
      return `订单${orderId}的电话支付未能完成。请回电或使用其他方式支付。`;
    case 'fr':
      return `Le paiement par téléphone de la commande ${orderId} n'a pas pu être terminé. Rappelez-nous ou payez autrement.`;
    default:
      return `We could not complete the phone payment for order ${orderId}. Please call us back or pay another way.`;
  }
}
