/**
 * The shop example's cart: add items, remove them, check out. An external domain module like
 * product.ts: the runtime loads it by URL and uses its default export. Money is integer cents (money.ts).
 *
 * Rules a shopper can rely on:
 * - A line per product. `AddItem` names the unit price the caller saw; the line keeps that price from then
 *   on, whatever the product's price does later (product.ts). Adding more of a product already in the cart
 *   at another unit price is refused (`UnitPriceMismatch`, a conflict): the caller saw a price change, and
 *   the shopper decides (remove the line, add it again at the new price) instead of the cart guessing.
 * - At most MAX_QUANTITY of a product and MAX_LINES products per cart (`QuantityLimitExceeded`, `CartFull`).
 * - `Checkout` fixes the cart: its total is the sum of quantity x unit price over the lines; an empty cart
 *   cannot check out (`CartEmpty`); a checked-out cart refuses every command (`CartAlreadyCheckedOut`).
 *
 * Gotchas: the cart trusts the unit price it is given; it does not (cannot: a decider reads only its own
 * stream) check it against the product. Over HTTP any client may name any price. A real shop keeps
 * `AddItem` out of `publicCommands` and adds items from its own code, which reads the product's current
 * price first (`runtime.load('product', id)`), as `test/examples/shop/shop-runtime.int.test.ts` does.
 */
import { DomainError, ID_PATTERN } from '../../src/kernel/index.js';
import { unreachable, type Command, type Decider, type DomainEvent } from '../../src/domain/index.js';
import { cents } from './money.js';

/** Most units of one product in a cart. */
export const MAX_QUANTITY = 1_000;
/** Most distinct products in a cart. */
export const MAX_LINES = 100;

export interface CartLine {
  productId: string;
  quantity: number;
  /** Cents, as seen by the caller when the product was first added. */
  unitPrice: number;
}

export interface CartState {
  lines: CartLine[];
  /** Sum of quantity x unit price over the lines, in cents. */
  total: number;
  checkedOut: boolean;
}

export type CartCommand =
  | Command<'AddItem', { productId: string; quantity: number; unitPrice: number }>
  | Command<'RemoveItem', { productId: string }>
  | Command<'Checkout', Record<string, never>>;

export type CartEvent =
  | DomainEvent<'ItemAdded', { productId: string; quantity: number; unitPrice: number }>
  | DomainEvent<'ItemRemoved', { productId: string; quantity: number }>
  | DomainEvent<'CartCheckedOut', { total: number; lines: CartLine[] }>;

const productId = { type: 'string', pattern: ID_PATTERN };

export const cartDecider: Decider<CartState, CartCommand, CartEvent> = {
  type: 'cart',
  snapshotVersion: 1,
  // Public so the example works with curl; see the Gotchas above for why a real shop would not list AddItem.
  publicCommands: ['AddItem', 'RemoveItem', 'Checkout'],
  commands: {
    AddItem: {
      type: 'object',
      required: ['productId', 'quantity', 'unitPrice'],
      additionalProperties: false,
      properties: { productId, quantity: { type: 'integer', minimum: 1, maximum: MAX_QUANTITY }, unitPrice: cents },
    },
    RemoveItem: { type: 'object', required: ['productId'], additionalProperties: false, properties: { productId } },
    Checkout: { type: 'object', additionalProperties: false, properties: {} },
  },

  initialState: () => ({ lines: [], total: 0, checkedOut: false }),

  decide(command, state) {
    if (state.checkedOut) throw new DomainError('CartAlreadyCheckedOut', 'the cart is checked out and can no longer change', 'conflict');
    switch (command.type) {
      case 'AddItem': {
        const { productId, quantity, unitPrice } = command.data;
        const line = lineOf(state, productId);
        if (line === undefined && state.lines.length >= MAX_LINES) {
          throw new DomainError('CartFull', `a cart holds at most ${MAX_LINES} products`, 'rule', { maxLines: MAX_LINES });
        }
        if (line !== undefined && line.unitPrice !== unitPrice) {
          throw new DomainError('UnitPriceMismatch', `${productId} is in the cart at ${line.unitPrice} cents, not ${unitPrice}: remove it and add it again at the new price`, 'conflict', {
            productId,
            inCart: line.unitPrice,
            unitPrice,
          });
        }
        const inCart = line?.quantity ?? 0;
        if (inCart + quantity > MAX_QUANTITY) {
          throw new DomainError('QuantityLimitExceeded', `a cart holds at most ${MAX_QUANTITY} of a product`, 'rule', { productId, inCart, quantity, max: MAX_QUANTITY });
        }
        return [{ type: 'ItemAdded', data: { productId, quantity, unitPrice } }];
      }
      case 'RemoveItem': {
        const line = lineOf(state, command.data.productId);
        if (line === undefined) throw new DomainError('ItemNotInCart', `${command.data.productId} is not in the cart`, 'conflict', { productId: command.data.productId });
        return [{ type: 'ItemRemoved', data: { productId: line.productId, quantity: line.quantity } }];
      }
      case 'Checkout':
        if (state.lines.length === 0) throw new DomainError('CartEmpty', 'an empty cart cannot check out', 'rule');
        return [{ type: 'CartCheckedOut', data: { total: state.total, lines: state.lines } }];
      default:
        return unreachable(command);
    }
  },

  // New arrays and line objects, never edits: the state handed in may be frozen (the runtime freezes
  // the states it returns) or shared with a snapshot.
  evolve(state, event) {
    switch (event.type) {
      case 'ItemAdded': {
        const { productId, quantity, unitPrice } = event.data;
        const lines = lineOf(state, productId)
          ? state.lines.map((l) => (l.productId === productId ? { productId, quantity: l.quantity + quantity, unitPrice: l.unitPrice } : l))
          : [...state.lines, { productId, quantity, unitPrice }];
        return { lines, total: totalOf(lines), checkedOut: state.checkedOut };
      }
      case 'ItemRemoved': {
        const lines = state.lines.filter((l) => l.productId !== event.data.productId);
        return { lines, total: totalOf(lines), checkedOut: state.checkedOut };
      }
      case 'CartCheckedOut':
        return { lines: state.lines, total: state.total, checkedOut: true };
      default:
        return unreachable(event);
    }
  },
};

function lineOf(state: CartState, productId: string): CartLine | undefined {
  return state.lines.find((l) => l.productId === productId);
}

/** Exact: every term and the sum stay below MAX_PRICE x MAX_QUANTITY x MAX_LINES, a safe integer (money.ts). */
function totalOf(lines: readonly CartLine[]): number {
  return lines.reduce((sum, l) => sum + l.quantity * l.unitPrice, 0);
}

export default cartDecider;
