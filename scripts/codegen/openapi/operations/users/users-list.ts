import { HttpProblems } from '../../../../../functions/shared/http/errors.js';
import { parseInput } from '../../../../../functions/shared/http/validation.js';
import { DEFAULT_PAGE_SIZE, listUsersQuery, MAX_PAGE_SIZE } from '../../../../../functions/users/users-list/schema.js';
import { adaResource, ADA, EXAMPLE_CURSOR } from '../../examples.js';
import type { OperationDoc } from '../../operation.js';
import { problemOf } from '../../problems.js';

const unknownParameter = problemOf(() => parseInput(listUsersQuery, { sort: 'name' }, 'query'));

/** users-list in the API description. */
export const operation: OperationDoc = {
  description:
    'Lists users in creation order, for admins only: the token must say admin and so must the database (a demoted ' +
    'admin\'s earlier token gets 403). Filters combine: `email` matches exactly and `name` / `surname` ' +
    'are prefixes, all without regard to case (`%` and `_` match themselves). Pages hold `limit` users ' +
    `(default ${DEFAULT_PAGE_SIZE}, at most ${MAX_PAGE_SIZE}); pass \`nextCursor\` back as \`cursor\`, with the same ` +
    'filters, for the next page (`null` on the last one). Any other query parameter answers 400.',
  parameters: {
    email: { description: 'Only the user with this email (exact, without regard to case).', example: ADA.record.email },
    name: { description: 'Only users whose name starts with this (without regard to case).', example: 'Ad' },
    surname: { description: 'Only users whose surname starts with this (without regard to case).', example: 'love' },
    limit: { description: `Users per page: 1 to ${MAX_PAGE_SIZE}, default ${DEFAULT_PAGE_SIZE}.`, example: 10 },
    cursor: {
      description: 'Where the page starts: the `nextCursor` of the previous page, as it was given (opaque).',
      example: EXAMPLE_CURSOR,
    },
  },
  invalidInput: { limit: '0' },
  answers: {
    200: {
      description: 'One page of users, never their password hashes; never cached (`no-store`).',
      body: {
        component: 'UserList',
        examples: {
          'first-page': { summary: 'A page with more to follow', value: { items: [adaResource], nextCursor: EXAMPLE_CURSOR } },
          'last-page': { summary: 'The last page', value: { items: [adaResource], nextCursor: null } },
        },
      },
    },
  },
  problems: {
    400: {
      description: 'A `cursor` this API did not write is refused the same way, naming `#/cursor`.',
      examples: [
        {
          problem: HttpProblems.validationFailed,
          name: 'unknown-parameter',
          summary: 'An unknown query parameter',
          options: { detail: unknownParameter.detail, errors: unknownParameter.errors ?? [] },
        },
      ],
    },
    403: "The token is not an admin's.",
  },
};
