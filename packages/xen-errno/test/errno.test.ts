import test from 'ava';
import { ERRNO, errnoName, HypercallError, XenError } from '../src/index.js';

test('errno names round-trip, sign ignored', (t) => {
  t.is(errnoName(-ERRNO.ESRCH), 'ESRCH');
  t.is(errnoName(12), 'ENOMEM');
  t.is(errnoName(9999), 'E9999');
});

test('HypercallError carries the errno name as its code', (t) => {
  const e = new HypercallError(-12, 'increase_reservation');
  t.true(e instanceof XenError);
  t.is(e.code, 'ENOMEM');
  t.is(e.errno, -12);
  t.is(e.message, 'increase_reservation: ENOMEM');
});
