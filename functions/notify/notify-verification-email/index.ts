import { EMAIL_VERIFICATION_REQUESTED, openAccountEmailEvent } from '../../contracts/events/account-email-events.js';
import { defineCloudEventFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle } from './handler.js';

export const definition = defineCloudEventFunction({
  name: 'notify-verification-email',
  // An event that does not open (forged, altered, sealed for another event or type) sends nothing.
  input: (event, deps) => openAccountEmailEvent(event, EMAIL_VERIFICATION_REQUESTED, deps.config.EVENT_SEAL_KEY),
  handle,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
