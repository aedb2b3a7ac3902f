/**
 * The shop example's product decider (examples/shop/product.ts), as given/when/then specifications.
 * Pure code: no runtime, no I/O.
 */
import { describe, expect, it } from 'vitest';
import { productDecider, type ProductEvent } from '../../../examples/shop/product.js';
import { MAX_PRICE } from '../../../examples/shop/money.js';
import { deciderSpec } from '../../support/decider-spec.js';

const { given, when, rejection } = deciderSpec(productDecider, 'sku-1');

const registered: ProductEvent = { type: 'ProductRegistered', data: { name: 'Mug', price: 1250 } };
const repriced = (price: number, previousPrice: number): ProductEvent => ({ type: 'PriceChanged', data: { price, previousPrice } });

describe('shop product decider', () => {
  it('starts unregistered, nameless and priced 0', () => {
    expect(productDecider.initialState()).toEqual({ name: null, price: 0, registered: false });
  });

  it('registers a product with its name and price in cents', () => {
    expect(when(given([]), { type: 'Register', data: { name: 'Mug', price: 1250 } })).toEqual([registered]);
    expect(given([registered])).toEqual({ name: 'Mug', price: 1250, registered: true });
  });

  it('refuses to register a product twice, as a conflict', () => {
    const err = rejection(given([registered]), { type: 'Register', data: { name: 'Cup', price: 900 } });
    expect(err.code).toBe('ProductAlreadyRegistered');
    expect(err.kind).toBe('conflict');
  });

  it('records a price change with the price it replaces', () => {
    expect(when(given([registered]), { type: 'ChangePrice', data: { price: 1400 } })).toEqual([repriced(1400, 1250)]);
    expect(given([registered, repriced(1400, 1250), repriced(990, 1400)])).toEqual({ name: 'Mug', price: 990, registered: true });
  });

  it('records nothing when the price is the one the product already has', () => {
    expect(when(given([registered]), { type: 'ChangePrice', data: { price: 1250 } })).toEqual([]);
  });

  it('refuses a price change before the product is registered', () => {
    const err = rejection(given([]), { type: 'ChangePrice', data: { price: 100 } });
    expect(err.code).toBe('ProductNotRegistered');
    expect(err.kind).toBe('conflict');
  });

  it('never mutates the state it is given', () => {
    const state = Object.freeze(given([registered]));
    expect(() => productDecider.evolve(state, repriced(1, 1250))).not.toThrow();
    expect(state.price).toBe(1250);
  });

  it('declares strict, bounded JSON schemas: a non-blank name and integer cents from 0 to MAX_PRICE', () => {
    expect(Object.keys(productDecider.commands).sort()).toEqual(['ChangePrice', 'Register']);
    expect([...productDecider.publicCommands].sort()).toEqual(['ChangePrice', 'Register']);
    for (const schema of Object.values(productDecider.commands)) expect(schema).toMatchObject({ type: 'object', additionalProperties: false });
    const price = { type: 'integer', minimum: 0, maximum: MAX_PRICE };
    expect(productDecider.commands.Register).toMatchObject({ required: ['name', 'price'], properties: { name: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' }, price } });
    expect(productDecider.commands.ChangePrice).toMatchObject({ required: ['price'], properties: { price } });
  });
});
