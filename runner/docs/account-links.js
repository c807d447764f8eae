/*
 * The panel of the docs page that finishes what an account email's link starts: opened with
 * `?action=verify-email&token=…` it confirms the address, with `?action=reset-password&token=…`
 * it sets a new password. Plain DOM, no framework; every text is set with textContent.
 *
 * Browser code, served as it is. The project's TypeScript settings know Node's globals only, so
 * the browser's are reached through `browser` (typed `any`); the rest is checked as usual.
 */
(() => {
  'use strict';

  /** @type {any} */
  const browser = globalThis;
  const document = browser.document;

  /**
   * @typedef {object} AccountAction
   * @property {string} heading
   * @property {string} intro
   * @property {string} button
   * @property {string} endpoint
   * @property {string} success
   * @property {boolean} password Whether the action asks for a new password.
   */

  /** @type {Readonly<Record<string, AccountAction>>} */
  const ACTIONS = {
    'verify-email': {
      heading: 'Confirm your email',
      intro: 'You followed the link of a verification email. Confirm the address to finish.',
      button: 'Confirm my email',
      endpoint: '/auth/email-verifications/confirm',
      success: 'Your email is confirmed.',
      password: false,
    },
    'reset-password': {
      heading: 'Choose a new password',
      intro: 'You followed the link of a password reset email. Choose the new password of your account.',
      button: 'Set the new password',
      endpoint: '/auth/password-resets/confirm',
      success: 'Your password is changed. Sign in with the new one: every session of the account has ended.',
      password: true,
    },
  };

  /**
   * A new element with attributes and, when given, its text.
   * @param {string} tag
   * @param {Record<string, string>} attributes
   * @param {string} [text]
   * @returns {any}
   */
  const element = (tag, attributes, text) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  };

  /**
   * What a problem+json answer says, as lines: its title and detail, then each field at fault.
   * @param {number} status
   * @param {unknown} problem
   * @returns {string[]}
   */
  const describeProblem = (status, problem) => {
    const fallback = `The request failed (${status}).`;
    if (typeof problem !== 'object' || problem === null) return [fallback];
    const { title, detail, errors } = /** @type {{ title?: unknown, detail?: unknown, errors?: unknown }} */ (problem);
    const lines = [[title, detail].filter((part) => typeof part === 'string' && part !== '').join(': ') || fallback];
    for (const error of Array.isArray(errors) ? errors : []) {
      const field = typeof error?.pointer === 'string' ? error.pointer.replace(/^#\/?/, '') : '';
      lines.push(`${field ? `${field}: ` : ''}${String(error?.detail ?? '')}`);
    }
    return lines;
  };

  /**
   * Shows the outcome in the result area, one paragraph per line.
   * @param {any} result
   * @param {'pending' | 'success' | 'problem'} kind
   * @param {readonly string[]} lines
   */
  const show = (result, kind, lines) => {
    result.className = `account-action__result account-action__result--${kind}`;
    result.textContent = '';
    for (const line of lines) result.appendChild(element('p', {}, line));
  };

  const start = () => {
    const panel = document.getElementById('account-action');
    if (!panel) return;
    const query = new browser.URLSearchParams(browser.location.search);
    const action = ACTIONS[String(query.get('action'))];
    const token = query.get('token');
    if (!action || !token) return;
    // The token is kept here only: out of the address bar and the history, and so out of bookmarks.
    browser.history.replaceState(null, '', browser.location.pathname + browser.location.hash);

    panel.appendChild(element('h2', {}, action.heading));
    panel.appendChild(element('p', {}, action.intro));
    const form = element('form', { class: 'account-action__form', novalidate: '' });
    /** @type {any} */
    let password;
    if (action.password) {
      form.appendChild(element('label', { for: 'account-action-password' }, 'New password'));
      password = element('input', { id: 'account-action-password', name: 'password', type: 'password', autocomplete: 'new-password' });
      form.appendChild(password);
    }
    const button = element('button', { type: 'submit', class: 'btn' }, action.button);
    form.appendChild(button);
    panel.appendChild(form);
    const result = element('div', { id: 'account-action-result', class: 'account-action__result', role: 'status' });
    panel.appendChild(result);
    panel.hidden = false;

    form.addEventListener('submit', async (/** @type {any} */ event) => {
      event.preventDefault();
      button.disabled = true;
      show(result, 'pending', ['Sending…']);
      try {
        const response = await browser.fetch(action.endpoint, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json, application/problem+json' },
          body: JSON.stringify(password ? { token, password: password.value } : { token }),
        });
        if (response.ok) {
          // A token works once: the form stays off.
          show(result, 'success', [action.success]);
          if (password) password.disabled = true;
          return;
        }
        const problem = await response.json().catch(() => undefined);
        show(result, 'problem', describeProblem(response.status, problem));
      } catch (error) {
        show(result, 'problem', [`The server could not be reached: ${error instanceof Error ? error.message : String(error)}`]);
      }
      button.disabled = false;
    });
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
