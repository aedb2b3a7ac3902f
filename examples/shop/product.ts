/**
 * The shop example's product: registered once with a name and a price, then repriced with `ChangePrice`.
 * It is an external domain module: the runtime loads it by URL (`createRuntime({ domains })`, or the
 * server's `DOMAINS` variable) and uses its default export. Prices are integer cents (money.ts).
 *
 * The rule between products and carts: a price change applies to items added from then on. A cart keeps
 * the unit price each item was added at (cart.ts), so repricing a product never changes a cart that is
 * being filled, and a checkout's total is what its lines said when they were added.
 */
import { DomainError } from '../../src/kernel/index.js';
import { unreachable, type Command, type Decider, type DomainEvent } from '../../src/domain/index.js';
import { cents } from './money.js';

export interface ProductState {
  name: string | null;
  /** Current price in cents (0 before registration). */
  price: number;
  registered: boolean;
}

export type ProductCommand = Command<'Register', { name: string; price: number }> | Command<'ChangePrice', { price: number }>;

export type ProductEvent =
  | DomainEvent<'ProductRegistered', { name: string; price: number }>
  | DomainEvent<'PriceChanged', { price: number; previousPrice: number }>;

export const productDecider: Decider<ProductState, ProductCommand, ProductEvent> = {
  type: 'product',
  snapshotVersion: 1,
  // Public so the example works with curl; give clients `write:cart` and operators `write:product`
  // scopes to keep repricing away from shoppers (docs/http-api.md, "Security").
  publicCommands: ['Register', 'ChangePrice'],
  commands: {
    Register: {
      type: 'object',
      required: ['name', 'price'],
      additionalProperties: false,
      // `\S`: a name of blanks only is no name.
      properties: { name: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' }, price: cents },
    },
    ChangePrice: { type: 'object', required: ['price'], additionalProperties: false, properties: { price: cents } },
  },

  initialState: () => ({ name: null, price: 0, registered: false }),

  decide(command, state) {
    switch (command.type) {
      case 'Register':
        if (state.registered) throw new DomainError('ProductAlreadyRegistered', 'the product is already registered', 'conflict');
        return [{ type: 'ProductRegistered', data: { name: command.data.name, price: command.data.price } }];
      case 'ChangePrice':
        if (!state.registered) throw new DomainError('ProductNotRegistered', 'the product is not registered; send Register first', 'conflict');
        // The price it already has: nothing happened, so nothing is recorded (a retry is harmless).
        if (command.data.price === state.price) return [];
        return [{ type: 'PriceChanged', data: { price: command.data.price, previousPrice: state.price } }];
      default:
        return unreachable(command);
    }
  },

  // Fields spelled out, as in src/domain/account.ts: one state shape whatever produced the previous one.
  evolve(state, event) {
    switch (event.type) {
      case 'ProductRegistered':
        return { name: event.data.name, price: event.data.price, registered: true };
      case 'PriceChanged':
        return { name: state.name, price: event.data.price, registered: state.registered };
      default:
        return unreachable(event);
    }
  },
};

export default productDecider;
