import { specOf } from '../../inventory.js';
import { defineCloudEventFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { accountEmailInput } from '../account-email.js';
import { handle } from './handler.js';

export const definition = defineCloudEventFunction(specOf('notify-password-reset-email'), {
  // The event type the catalogue brings it; one that does not open (forged, altered, sealed for another event or type) sends nothing.
  input: accountEmailInput('notify-password-reset-email'),
  handle,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
