/**
 * Money in the shop: integer cents, never floats, so sums are exact. A price is at most 1 000 000 000
 * cents (10 million in the major unit); with the cart's bounds (quantities and lines, see cart.ts) the
 * largest possible cart total stays far below `Number.MAX_SAFE_INTEGER`, so no sum can lose precision
 * and no decider needs an overflow check.
 *
 * Gotchas: raising `MAX_PRICE` (or the cart's bounds) must keep MAX_PRICE x MAX_QUANTITY x MAX_LINES a
 * safe integer; `test/examples/shop/cart.unit.test.ts` checks it.
 */

/** The highest price, in cents. A price of 0 is allowed (a free sample). */
export const MAX_PRICE = 1_000_000_000;

/** JSON schema of a price in cents. */
export const cents = { type: 'integer', minimum: 0, maximum: MAX_PRICE } as const;
