/**
 * The shop example loaded as an external domain (issue 12, "prove the domain seam"): createRuntime gets
 * the modules' file URLs in `domains`, and the talk's story runs through the embedded API on worker
 * threads: register products, fill a cart at the prices the shopper saw, reprice a product, check out.
 * Rejections cross the thread boundary with their codes; a restart hydrates the same states.
 */
import { describe, expect, it } from 'vitest';
import type { Runtime } from '../../../src/index.js';
import type { CartState } from '../../../examples/shop/cart.js';
import type { ProductState } from '../../../examples/shop/product.js';
import { rejectionOf } from '../../support/errors.js';
import { useRuntimes } from '../../support/runtimes.js';

const shopDomains = [new URL('../../../examples/shop/product.ts', import.meta.url), new URL('../../../examples/shop/cart.ts', import.meta.url)];
const runtimes = useRuntimes('shop');

/**
 * What a shop's own code does instead of trusting a client's price (cart.ts, Gotchas): read the product's
 * current price, then add the item at that price.
 */
async function addToCart(runtime: Runtime, cartId: string, productId: string, quantity: number) {
  const { state: product } = await runtime.load<ProductState>('product', productId);
  if (!product.registered) throw new Error(`no product ${productId}`);
  return runtime.execute<CartState>('cart', cartId, { type: 'AddItem', data: { productId, quantity, unitPrice: product.price } });
}

describe('the shop example as an external domain of the runtime', () => {
  it('adds items at the price of the moment, keeps it after a price change, and checks out the sum', async () => {
    const runtime = await runtimes.start({ domains: shopDomains });
    await runtime.execute('product', 'mug', { type: 'Register', data: { name: 'Mug', price: 1250 } });
    await runtime.execute('product', 'tea', { type: 'Register', data: { name: 'Green tea', price: 499 } });

    await addToCart(runtime, 'cart-1', 'mug', 2);
    const repriced = await runtime.execute<ProductState>('product', 'mug', { type: 'ChangePrice', data: { price: 1400 } });
    expect(repriced.state).toEqual({ name: 'Mug', price: 1400, registered: true });
    expect(repriced.events.map((e) => e.data)).toEqual([{ price: 1400, previousPrice: 1250 }]);

    // The cart keeps 1250 for the mugs already in it; more mugs at the new price are a conflict to resolve.
    const conflict = await rejectionOf(addToCart(runtime, 'cart-1', 'mug', 1));
    expect(conflict).toMatchObject({ code: 'UnitPriceMismatch', kind: 'conflict', details: { productId: 'mug', inCart: 1250, unitPrice: 1400 } });
    await addToCart(runtime, 'cart-1', 'tea', 3);
    expect((await runtime.load<CartState>('cart', 'cart-1')).state.total).toBe(2 * 1250 + 3 * 499);

    const done = await runtime.execute<CartState>('cart', 'cart-1', { type: 'Checkout', data: {} }, { commandId: 'checkout-1' });
    expect(done.version).toBe(3);
    expect(done.events.map((e) => [e.type, e.data])).toEqual([
      ['CartCheckedOut', { total: 3997, lines: [{ productId: 'mug', quantity: 2, unitPrice: 1250 }, { productId: 'tea', quantity: 3, unitPrice: 499 }] }],
    ]);
    expect(done.state).toMatchObject({ total: 3997, checkedOut: true });

    // A retried checkout (same commandId) is the first answer; a new one is refused: the cart is fixed.
    expect(await runtime.execute('cart', 'cart-1', { type: 'Checkout', data: {} }, { commandId: 'checkout-1' })).toMatchObject({ version: 3, duplicate: true });
    expect(await rejectionOf(runtime.execute('cart', 'cart-1', { type: 'Checkout', data: {} }))).toMatchObject({ code: 'CartAlreadyCheckedOut', kind: 'conflict' });
    expect(await rejectionOf(addToCart(runtime, 'cart-1', 'tea', 1))).toMatchObject({ code: 'CartAlreadyCheckedOut' });
    expect((await runtime.history('cart', 'cart-1')).map((e) => `${e.seq} ${e.type}`)).toEqual(['1 ItemAdded', '2 ItemAdded', '3 CartCheckedOut']);
  });

  it('refuses schema-invalid shop commands and empty checkouts without writing anything', async () => {
    const runtime = await runtimes.start({ domains: shopDomains });
    await runtime.execute('product', 'mug', { type: 'Register', data: { name: 'Mug', price: 1250 } });
    const addItem = (data: unknown) => runtime.execute('cart', 'cart-2', { type: 'AddItem', data });
    for (const data of [
      { productId: 'mug', quantity: 0, unitPrice: 1250 },
      { productId: 'mug', quantity: 1001, unitPrice: 1250 },
      { productId: 'mug', quantity: 1, unitPrice: 12.5 },
      { productId: 'mug', quantity: 1, unitPrice: -1 },
      { productId: 'mug', quantity: 1, unitPrice: '1250' },
      { productId: 'no such id!', quantity: 1, unitPrice: 1250 },
      { productId: 'mug', quantity: 1, unitPrice: 1250, discount: 100 },
      { productId: 'mug', quantity: 1 },
    ]) {
      expect((await rejectionOf(addItem(data))).code, JSON.stringify(data)).toBe('InvalidCommand');
    }
    expect((await rejectionOf(runtime.execute('product', 'mug', { type: 'ChangePrice', data: { price: 1e12 } }))).code).toBe('InvalidCommand');
    expect((await rejectionOf(runtime.execute('product', 'cup', { type: 'Register', data: { name: '   ', price: 100 } }))).code).toBe('InvalidCommand');
    expect(await rejectionOf(runtime.execute('cart', 'cart-2', { type: 'Checkout', data: {} }))).toMatchObject({ code: 'CartEmpty', kind: 'rule' });
    expect((await rejectionOf(runtime.history('cart', 'cart-2'))).code).toBe('StreamNotFound');
    expect((await rejectionOf(runtime.history('product', 'cup'))).code).toBe('StreamNotFound');

    // The price it already has writes nothing: the version stays where it was.
    const same = await runtime.execute('product', 'mug', { type: 'ChangePrice', data: { price: 1250 } });
    expect(same).toMatchObject({ version: 1, events: [] });
  });

  it('loads only the domains it is given: the built-in account is not there unless listed', async () => {
    const runtime = await runtimes.start({ domains: shopDomains });
    expect((await rejectionOf(runtime.execute('account', 'acc-1', { type: 'Open', data: { owner: 'Ada' } }))).code).toBe('UnknownAggregateType');
  });

  it('hydrates the same cart and product after a restart', async () => {
    const dataDir = await runtimes.dataDir();
    const first = await runtimes.start({ dataDir, domains: shopDomains });
    await first.execute('product', 'mug', { type: 'Register', data: { name: 'Mug', price: 1250 } });
    await addToCart(first, 'cart-3', 'mug', 2);
    await first.execute('product', 'mug', { type: 'ChangePrice', data: { price: 990 } });
    const before = await first.load<CartState>('cart', 'cart-3');
    await runtimes.close(first);

    const second = await runtimes.start({ dataDir, domains: shopDomains });
    expect(await second.load('cart', 'cart-3')).toEqual(before);
    expect((await second.load<ProductState>('product', 'mug')).state.price).toBe(990);
    expect((await second.execute<CartState>('cart', 'cart-3', { type: 'Checkout', data: {} })).state).toMatchObject({ total: 2500, checkedOut: true });
  });
});
