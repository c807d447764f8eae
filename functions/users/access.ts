import { AppError } from '../shared/http/problem.js';
import type { Principal } from '../shared/tokens.js';

/** The user themself or an admin may act on a user; anyone else gets 403. */
export function assertSelfOrAdmin(principal: Principal, userId: string): void {
  if (principal.userId !== userId && principal.role !== 'admin') {
    throw new AppError(403, 'forbidden', 'Only the user themself or an admin may do this.');
  }
}

export function assertAdmin(principal: Principal): void {
  if (principal.role !== 'admin') throw new AppError(403, 'forbidden', 'Only an admin may do this.');
}

export function userNotFound(): AppError {
  return new AppError(404, 'user-not-found', 'No user has this id.');
}
