import { describe, expect, it } from 'vitest';
import { INVENTORY } from '../../inventory.js';
import { createRouter } from './routes.js';

const USER_ID = '0b7c6f7e-2f0a-4b8e-9d55-6a1f0c3e9a12';

describe('createRouter over the HTTP functions of the inventory', () => {
  const route = createRouter(INVENTORY.filter((spec) => spec.trigger === 'http'));
  const nameOf = (method: string, path: string) => {
    const match = route(method, path);
    return match.kind === 'match' ? match.route.name : match.kind;
  };

  it('sends each method and path to the function that owns it', () => {
    expect(nameOf('POST', '/users')).toBe('users-create');
    expect(nameOf('GET', '/users')).toBe('users-list');
    expect(nameOf('GET', `/users/${USER_ID}`)).toBe('users-get');
    expect(nameOf('PATCH', `/users/${USER_ID}`)).toBe('users-update');
    expect(nameOf('DELETE', `/users/${USER_ID}`)).toBe('users-delete');
    expect(nameOf('POST', '/users/verify')).toBe('users-verify');
    expect(nameOf('POST', '/auth/login')).toBe('auth-login');
    expect(nameOf('GET', '/auth/jwks')).toBe('auth-jwks');
  });

  it('hands over path parameters by name', () => {
    expect(route('GET', `/users/${USER_ID}`)).toMatchObject({ kind: 'match', params: { id: USER_ID } });
    expect(route('POST', '/users')).toMatchObject({ kind: 'match', params: {} });
  });

  it('answers HEAD with the GET route', () => {
    expect(nameOf('HEAD', `/users/${USER_ID}`)).toBe('users-get');
    expect(nameOf('HEAD', '/users')).toBe('users-list');
  });

  it('prefers the literal /users/verify over /users/{id}, so GET on it is not a user lookup', () => {
    expect(route('GET', '/users/verify')).toEqual({ kind: 'method-not-allowed', allow: ['POST'] });
    expect(route('DELETE', '/users/verify')).toEqual({ kind: 'method-not-allowed', allow: ['POST'] });
  });

  it('lists every allowed method, once each, for a method it does not serve', () => {
    const onUser = route('PUT', `/users/${USER_ID}`);
    expect(onUser.kind).toBe('method-not-allowed');
    expect(onUser.kind === 'method-not-allowed' && [...onUser.allow].sort()).toEqual(['DELETE', 'GET', 'PATCH']);
    const onCollection = route('PUT', '/users');
    expect(onCollection.kind === 'method-not-allowed' && [...onCollection.allow].sort()).toEqual(['GET', 'POST']);
  });

  it('accepts one trailing slash', () => {
    expect(nameOf('GET', '/users/')).toBe('users-list');
    expect(nameOf('POST', '/users/verify/')).toBe('users-verify');
    expect(route('GET', `/users/${USER_ID}/`)).toMatchObject({ kind: 'match', params: { id: USER_ID } });
    expect(nameOf('GET', '/users//')).toBe('not-found');
  });

  it('answers not-found for paths no route owns', () => {
    for (const path of ['/', '/user', '/users-list', '/usersx', `/users/${USER_ID}/sessions`, '/api/users', '/USERS', '']) {
      expect(route('GET', path), path).toEqual({ kind: 'not-found' });
    }
  });

  it('percent-decodes parameters once', () => {
    expect(route('GET', '/users/a%20b')).toMatchObject({ params: { id: 'a b' } });
    expect(route('GET', '/users/%C3%A9')).toMatchObject({ params: { id: 'é' } });
    expect(route('GET', '/users/a%2Fb')).toMatchObject({ kind: 'match', params: { id: 'a/b' } });
    expect(route('GET', '/users/%2541')).toMatchObject({ kind: 'match', params: { id: '%41' } });
    // An encoded "verify" is a parameter value, not the literal route.
    expect(route('GET', '/users/%76erify')).toMatchObject({ kind: 'match', params: { id: 'verify' } });
  });

  it.each(['%ff%fe', '%E0%A4%A', '%', 'a%2', '%ED%A0%80', '%C0%AF'])('answers not-found for a parameter that is not percent-encoded UTF-8: %s', (raw) => {
    expect(route('GET', `/users/${raw}`)).toEqual({ kind: 'not-found' });
    expect(route('DELETE', `/users/${raw}`)).toEqual({ kind: 'not-found' });
  });

  it('treats regular-expression characters in a template literally', () => {
    const dotted = createRouter([{ method: 'GET', path: '/v1.0/things/{id}' }]);
    expect(dotted('GET', '/v1.0/things/7')).toMatchObject({ kind: 'match', params: { id: '7' } });
    expect(dotted('GET', '/v1x0/things/7')).toEqual({ kind: 'not-found' });
  });
});
