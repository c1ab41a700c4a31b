// Plivo's Node.js SDK (npm `plivo`), unchanged, driving masq's masking-session API as a tenant's code would.
// tests/test_plivo_node_sdk.py installs the SDK, starts masq, runs
//   node plivo_node_sdk.js MASQ_URL AUTH_ID AUTH_TOKEN FIRST_PARTY SECOND_PARTY
// and asserts on the one JSON document this prints: each answer as the SDK's own response class holds it.
'use strict';

const path = require('path');
const plivo = require('plivo');
const { PlivoGenericResponse } = require('plivo/dist/base');
const masking = require('plivo/dist/resources/maskingSession');

const [masqUrl, authId, authToken, firstParty, secondParty] = process.argv.slice(2);
const PLIVO_VOICE = 'https://api.plivo.com/v1/Account/';

// The SDK sends masking-session requests to Plivo's voice API at a URL written into its request module (`apiVoiceUris`
// in dist/rest/axios.js), not to the client's `url` option, each on an instance from `axios.create`. Every such
// instance made here sends to masq instead, and a request for anywhere else stops the script.
const axios = require(require.resolve('axios', { paths: [path.dirname(require.resolve('plivo'))] }));
const sent = [];
const createInstance = axios.create;
axios.create = function (...args) {
  const instance = createInstance.apply(this, args);
  instance.interceptors.request.use((config) => {
    if (!config.url.startsWith(PLIVO_VOICE)) throw new Error(`the SDK asked for ${config.url}`);
    config.url = `${masqUrl}/v1/Account/${config.url.slice(PLIVO_VOICE.length)}`;
    sent.push(`${config.method.toUpperCase()} ${config.url}`);
    return config;
  });
  return instance;
};

// An answer as the SDK gives it: the name of its class, and its fields.
function read(answer, klass) {
  if (!(answer instanceof klass)) throw new Error(`expected a ${klass.name}, got ${answer.constructor.name}`);
  return { class: answer.constructor.name, ...JSON.parse(JSON.stringify(answer)) };
}

// A refusal as the SDK gives it: its PlivoRestError's HTTP status, and the error and api_id of the body.
async function failure(promise) {
  try {
    await promise;
  } catch (error) {
    return { status: error.status, message: error.message, apiId: error.apiID };
  }
  throw new Error('expected the SDK to reject');
}

async function main() {
  const sessions = new plivo.Client(authId, authToken).maskingSession;
  const created = await sessions.createMaskingSession(firstParty, secondParty, {
    sessionExpiry: 7200,
    callTimeLimit: 600,
    ringTimeout: 45,
    record: true,
    recordFileFormat: 'wav',
    callbackUrl: 'https://hooks.example.com/callback',
    callbackMethod: 'GET',
  });
  const short = await sessions.createMaskingSession(firstParty, secondParty, { sessionExpiry: 600 });
  const uuid = created.sessionUuid;
  const got = await sessions.getMaskingSession(uuid);
  const listed = await sessions.listMaskingSession({
    firstParty,
    status: 'active',
    durationGreaterOrEqual: 3600,
    limit: 5,
    offset: 0,
  });
  const updated = await sessions.updateMaskingSession(uuid, { callTimeLimit: 900, ringTimeout: 30 });
  const deleted = await sessions.deleteMaskingSession(uuid);
  const expired = await sessions.listMaskingSession({ firstParty, status: 'expired' });
  const report = {
    created: read(created, masking.CreateMaskingSessionResponse),
    short: read(short, masking.CreateMaskingSessionResponse),
    got: read(got, PlivoGenericResponse),
    listed: read(listed, masking.ListMaskingSessionResponse),
    updated: read(updated, PlivoGenericResponse),
    deleted: read(deleted, PlivoGenericResponse),
    expired: read(expired, masking.ListMaskingSessionResponse),
    missing: await failure(sessions.getMaskingSession('00000000-0000-4000-8000-000000000000')),
    refused: await failure(sessions.listMaskingSession({ status: 'open' })),
    sent,
  };
  process.stdout.write(JSON.stringify(report));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
