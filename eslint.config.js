import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'dist.*/', 'node_modules/', '.data/', 'coverage/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', Buffer: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // A pool or client without an 'error' listener turns a server's termination into an uncaught
    // exception that fails the whole run: tests open them through test/support/database-clients.ts.
    files: ['**/*.test.ts', 'test/**/*.ts'],
    ignores: ['test/support/database-clients.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...['Pool', 'Client', 'PostgresDialect'].flatMap((name) => [
          {
            selector: `NewExpression[callee.type='MemberExpression'][callee.property.name='${name}']`,
            message: `Open Postgres connections with test/support/database-clients.ts (openTestPool, openTestClient, openTestKysely, openTestDatabase), not new ${name}.`,
          },
          {
            selector: `NewExpression[callee.name='${name}']`,
            message: `Open Postgres connections with test/support/database-clients.ts (openTestPool, openTestClient, openTestKysely, openTestDatabase), not new ${name}.`,
          },
        ]),
      ],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/functions/shared/database.js'], importNames: ['createDatabase'], message: 'Tests open databases with openTestDatabase (test/support/database-clients.ts).' }] },
      ],
    },
  },
);
