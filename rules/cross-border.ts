// Cross-border, one rule for the device, the bridge and the service: the order's country differs
// from the card's issuing country when that is known, else from the reference country the caller
// has (the merchant's; the service, which has none, the customer's IP country). Unknown when the
// order country or both references are missing: each caller says what unknown means to it (the
// device counts it as domestic, which can only turn a 57/62 review into a decline or escalation,
// never an approval).

/** ISO 3166-1 alpha-2 codes, compared case-insensitively; null when unknown. */
export function isCrossBorder(orderCountry: string | null | undefined, issuerCountry: string | null | undefined, referenceCountry: string | null | undefined): boolean | null {
  if (!orderCountry) return null;
  const ref = issuerCountry || referenceCountry;
  return ref ? orderCountry.toUpperCase() !== ref.toUpperCase() : null;
}
