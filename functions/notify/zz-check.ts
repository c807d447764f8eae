import { defineCloudEventFunction } from '../shared/runtime/definition.js';
export const a = defineCloudEventFunction({
  name: 'notify-login-email',
  needs: ['database', 'mail'],
  createHandler: () => async () => undefined,
});
export const b = defineCloudEventFunction({
  name: 'notify-login-email',
  needs: ['database', 'mail'],
  createHandler: (deps) => async () => { deps.logger.info('x'); },
});
