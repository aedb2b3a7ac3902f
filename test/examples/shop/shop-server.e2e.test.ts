/**
 * `npm start` serving the shop example, the way the README says: the build (npm ci's prepare step, or
 * `npm run build`) compiles examples/shop into dist/, and `DOMAINS` names the compiled modules. They are
 * added to the built-in account and video deciders. A bad `DOMAINS` stops start-up with one line.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { postCommand, startFailure, startServer, type ServerChild } from '../../support/server-child.js';
import { useTempDirs } from '../../support/temp-dirs.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tempDir = useTempDirs('shop-server');
const started: ServerChild[] = [];
afterEach(async () => {
  // SIGTERM, not SIGKILL: npm passes it on to the server it started; killing npm would leave the server behind.
  await Promise.all(started.splice(0).map((s) => s.kill('SIGTERM')));
});

describe('npm start with DOMAINS', () => {
  it('serves the compiled shop modules over HTTP next to the built-in domains', async () => {
    expect(existsSync(`${root}dist/examples/shop/cart.js`), 'dist/ is built by npm ci (prepare) or npm run build').toBe(true);
    const server = startServer(await tempDir(), { command: ['npm', 'start', '--silent'], env: { DOMAINS: 'dist/examples/shop/product.js, dist/examples/shop/cart.js' } });
    started.push(server);
    const url = await server.listening;
    const post = (type: string, id: string, body: unknown) => postCommand(url, type, id, body);

    expect(await post('product', 'mug', { type: 'Register', data: { name: 'Mug', price: 1250 } })).toMatchObject({ status: 200, body: { version: 1 } });
    expect(await post('cart', 'cart-1', { type: 'AddItem', data: { productId: 'mug', quantity: 2, unitPrice: 1250 } })).toMatchObject({ status: 200, body: { state: { total: 2500 } } });
    expect(await post('product', 'mug', { type: 'ChangePrice', data: { price: 1400 } })).toMatchObject({ status: 200, body: { state: { price: 1400 } } });
    expect(await post('cart', 'cart-1', { type: 'AddItem', data: { productId: 'mug', quantity: 1, unitPrice: 1400 } })).toMatchObject({
      status: 409,
      body: { error: 'UnitPriceMismatch', productId: 'mug', inCart: 1250, unitPrice: 1400 },
    });
    expect(await post('cart', 'cart-1', { type: 'Checkout' })).toMatchObject({ status: 200, body: { version: 2, state: { total: 2500, checkedOut: true } } });
    expect(await post('cart', 'cart-1', { type: 'RemoveItem', data: { productId: 'mug' } })).toMatchObject({ status: 409, body: { error: 'CartAlreadyCheckedOut' } });
    expect(await post('cart', 'cart-2', { type: 'Checkout', data: {} })).toMatchObject({ status: 422, body: { error: 'CartEmpty' } });
    expect(await post('cart', 'cart-2', { type: 'AddItem', data: { productId: 'mug', quantity: 1, unitPrice: 12.5 } })).toMatchObject({ status: 400, body: { error: 'InvalidCommand' } });

    const cart = await fetch(`${url}/aggregates/cart/cart-1`);
    expect(await cart.json()).toEqual({ id: 'cart-1', type: 'cart', version: 2, state: { lines: [{ productId: 'mug', quantity: 2, unitPrice: 1250 }], total: 2500, checkedOut: true } });
    // Added, not replaced: the built-in account (and video) deciders are still served.
    expect(await post('account', 'acc-1', { type: 'Open', data: { owner: 'Ada' } })).toMatchObject({ status: 200 });

    expect(await server.kill('SIGTERM')).toBe(0);
  });

  it.each([
    ['a path with no file', 'no/such/module.js', /^eventide could not start: DOMAINS must list domain modules \(comma-separated paths or file URLs\), but there is no file "no\/such\/module.js"$/],
    ['a module that exports no decider', 'examples/shop/money.ts', /^eventide could not start: file:\/\/\S+\/examples\/shop\/money.ts does not export a decider/],
  ])('stops start-up with one line for %s', async (_name, value, message) => {
    const server = startServer(await tempDir(), { env: { DOMAINS: value } });
    started.push(server);
    expect(await server.exited).toBe(1);
    const failure = startFailure(server.stderr());
    expect(failure.code).toBe('InvalidOptions');
    expect(failure.msg).toMatch(message);
  });
});
