/**
 * The shop example's cart decider (examples/shop/cart.ts), as given/when/then specifications: lines
 * keep the unit price they were added at, bounds on quantities and lines, checkout fixes the cart.
 * Pure code: no runtime, no I/O.
 */
import { describe, expect, it } from 'vitest';
import { cartDecider, MAX_LINES, MAX_QUANTITY, type CartCommand, type CartEvent } from '../../../examples/shop/cart.js';
import { MAX_PRICE } from '../../../examples/shop/money.js';
import { deciderSpec } from '../../support/decider-spec.js';

const { given, when, rejection } = deciderSpec(cartDecider, 'cart-1');

const added = (productId: string, quantity: number, unitPrice: number): CartEvent => ({ type: 'ItemAdded', data: { productId, quantity, unitPrice } });
const removed = (productId: string, quantity: number): CartEvent => ({ type: 'ItemRemoved', data: { productId, quantity } });
const add = (productId: string, quantity: number, unitPrice: number): CartCommand => ({ type: 'AddItem', data: { productId, quantity, unitPrice } });
const checkout: CartCommand = { type: 'Checkout', data: {} };
const mugs = added('mug', 2, 1250);
const tea = added('tea', 1, 499);
const checkedOut: CartEvent = { type: 'CartCheckedOut', data: { total: 2999, lines: [{ productId: 'mug', quantity: 2, unitPrice: 1250 }, { productId: 'tea', quantity: 1, unitPrice: 499 }] } };

describe('shop cart decider', () => {
  it('starts empty, with a total of 0, not checked out', () => {
    expect(cartDecider.initialState()).toEqual({ lines: [], total: 0, checkedOut: false });
  });

  it('adds an item at the unit price the caller saw, and totals quantity x unit price', () => {
    expect(when(given([]), add('mug', 2, 1250))).toEqual([mugs]);
    expect(given([mugs, tea])).toEqual({ lines: [{ productId: 'mug', quantity: 2, unitPrice: 1250 }, { productId: 'tea', quantity: 1, unitPrice: 499 }], total: 2999, checkedOut: false });
  });

  it('adds more of a product to its line when the unit price is the same', () => {
    expect(when(given([mugs]), add('mug', 3, 1250))).toEqual([added('mug', 3, 1250)]);
    expect(given([mugs, added('mug', 3, 1250)])).toEqual({ lines: [{ productId: 'mug', quantity: 5, unitPrice: 1250 }], total: 6250, checkedOut: false });
  });

  it('refuses more of a product at another unit price: the line keeps the price it was added at', () => {
    const err = rejection(given([mugs]), add('mug', 1, 1400));
    expect(err.code).toBe('UnitPriceMismatch');
    expect(err.kind).toBe('conflict');
    expect(err.details).toEqual({ productId: 'mug', inCart: 1250, unitPrice: 1400 });
  });

  it('takes a new unit price once the line was removed and the product added again', () => {
    const state = given([mugs, removed('mug', 2)]);
    expect(when(state, add('mug', 1, 1400))).toEqual([added('mug', 1, 1400)]);
    expect(given([mugs, removed('mug', 2), added('mug', 1, 1400)]).total).toBe(1400);
  });

  it(`refuses more than ${MAX_QUANTITY} of one product, counting what is already in the cart`, () => {
    const state = given([added('mug', MAX_QUANTITY - 1, 1250)]);
    expect(when(state, add('mug', 1, 1250))).toEqual([added('mug', 1, 1250)]);
    const err = rejection(state, add('mug', 2, 1250));
    expect(err.code).toBe('QuantityLimitExceeded');
    expect(err.kind).toBe('rule');
    expect(err.details).toEqual({ productId: 'mug', inCart: MAX_QUANTITY - 1, quantity: 2, max: MAX_QUANTITY });
  });

  it(`refuses a product beyond ${MAX_LINES} lines, yet still adds to a line it has`, () => {
    const full = given(Array.from({ length: MAX_LINES }, (_, i) => added(`p-${i}`, 1, 100)));
    const err = rejection(full, add('one-more', 1, 100));
    expect(err.code).toBe('CartFull');
    expect(err.kind).toBe('rule');
    expect(err.details).toEqual({ maxLines: MAX_LINES });
    expect(when(full, add('p-0', 1, 100))).toEqual([added('p-0', 1, 100)]);
  });

  it('removes a whole line and says how many units went with it', () => {
    expect(when(given([mugs, tea]), { type: 'RemoveItem', data: { productId: 'mug' } })).toEqual([removed('mug', 2)]);
    expect(given([mugs, tea, removed('mug', 2)])).toEqual({ lines: [{ productId: 'tea', quantity: 1, unitPrice: 499 }], total: 499, checkedOut: false });
  });

  it('refuses to remove a product that is not in the cart', () => {
    const err = rejection(given([tea]), { type: 'RemoveItem', data: { productId: 'mug' } });
    expect(err.code).toBe('ItemNotInCart');
    expect(err.kind).toBe('conflict');
    expect(err.details).toEqual({ productId: 'mug' });
  });

  it('checks out with the total and the lines as they are', () => {
    expect(when(given([mugs, tea]), checkout)).toEqual([checkedOut]);
    expect(given([mugs, tea, checkedOut])).toMatchObject({ total: 2999, checkedOut: true });
  });

  it('refuses to check out an empty cart, new or emptied', () => {
    for (const history of [[], [mugs, removed('mug', 2)]]) {
      const err = rejection(given(history), checkout);
      expect(err.code).toBe('CartEmpty');
      expect(err.kind).toBe('rule');
    }
  });

  it('refuses every change once checked out, and a second checkout', () => {
    const state = given([mugs, tea, checkedOut]);
    for (const command of [add('cup', 1, 100), add('mug', 1, 1250), { type: 'RemoveItem', data: { productId: 'mug' } }, checkout] satisfies CartCommand[]) {
      const err = rejection(state, command);
      expect(err.code).toBe('CartAlreadyCheckedOut');
      expect(err.kind).toBe('conflict');
    }
  });

  it('never mutates the state it is given', () => {
    const state = given([mugs]);
    Object.freeze(state.lines[0]);
    Object.freeze(state.lines);
    Object.freeze(state);
    for (const event of [added('mug', 1, 1250), added('tea', 1, 499), removed('mug', 2), checkedOut]) expect(() => cartDecider.evolve(state, event)).not.toThrow();
    expect(state).toEqual({ lines: [{ productId: 'mug', quantity: 2, unitPrice: 1250 }], total: 2500, checkedOut: false });
  });

  it('keeps the largest possible total an exact integer', () => {
    expect(Number.isSafeInteger(MAX_PRICE * MAX_QUANTITY * MAX_LINES)).toBe(true);
    const priciest = given(Array.from({ length: MAX_LINES }, (_, i) => added(`p-${i}`, MAX_QUANTITY, MAX_PRICE)));
    expect(priciest.total).toBe(MAX_PRICE * MAX_QUANTITY * MAX_LINES);
  });

  it('declares strict, bounded JSON schemas for every command type it decides', () => {
    expect(Object.keys(cartDecider.commands).sort()).toEqual(['AddItem', 'Checkout', 'RemoveItem']);
    expect([...cartDecider.publicCommands].sort()).toEqual(['AddItem', 'Checkout', 'RemoveItem']);
    for (const schema of Object.values(cartDecider.commands)) expect(schema).toMatchObject({ type: 'object', additionalProperties: false });
    const productId = { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,128}$' };
    expect(cartDecider.commands.AddItem).toMatchObject({
      required: ['productId', 'quantity', 'unitPrice'],
      properties: { productId, quantity: { type: 'integer', minimum: 1, maximum: MAX_QUANTITY }, unitPrice: { type: 'integer', minimum: 0, maximum: MAX_PRICE } },
    });
    expect(cartDecider.commands.RemoveItem).toMatchObject({ required: ['productId'], properties: { productId } });
    expect(cartDecider.commands.Checkout).toMatchObject({ properties: {} });
  });
});
