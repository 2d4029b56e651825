// check.mjs drives Folio with Google's official Node.js Vision client
// (@google-cloud/vision), over gRPC (the client's default transport) and
// over REST (`fallback: true`), and prints one line per check: "ok   ..." or
// "FAIL ...". It exits 1 if any check failed, 2 on a usage error.
//
//   node check.mjs REST_URL GRPC_ADDR INPUT_URI OUTPUT_PREFIX
//
// or the same from the environment: FOLIO_REST (http://127.0.0.1:8080),
// FOLIO_GRPC (127.0.0.1:8081), FOLIO_INPUT (gs://bucket/in.pdf, a PDF of a
// few pages), FOLIO_OUTPUT (gs://bucket/out/node/; each call writes under
// its own folder there). Optional: FOLIO_CANCEL_INPUT, a longer PDF for the
// cancel check (default FOLIO_INPUT; it must still be running when the
// cancel arrives), and FOLIO_GCS, the emulator's base URL
// (http://127.0.0.1:4443), to list the output objects through its JSON API.
//
// e2e/node_test.go runs it against a Folio it starts and checks the output
// objects afterwards.

import vision from '@google-cloud/vision';
import {PassThroughClient} from 'google-auth-library';
import {grpc} from 'google-gax';

const {google} = vision.protos;
const State = google.cloud.vision.v1.OperationMetadata.State;
const Code = {OK: 0, CANCELLED: 1, INVALID_ARGUMENT: 3, NOT_FOUND: 5};
const CALL_TIMEOUT = 20_000; // per RPC
const WAIT_TIMEOUT = 120_000; // per operation.promise()

const env = process.env;
const [restURL, grpcAddr, input, output] = process.argv.length > 2
  ? process.argv.slice(2)
  : [env.FOLIO_REST, env.FOLIO_GRPC, env.FOLIO_INPUT, env.FOLIO_OUTPUT];
const cancelInput = env.FOLIO_CANCEL_INPUT || input;
const gcs = env.FOLIO_GCS;
if (!restURL || !grpcAddr || !input?.startsWith('gs://') || !output?.startsWith('gs://')) {
  console.error('usage: node check.mjs REST_URL GRPC_ADDR gs://INPUT.pdf gs://OUTPUT_PREFIX/\n' +
    '   or: FOLIO_REST, FOLIO_GRPC, FOLIO_INPUT, FOLIO_OUTPUT (and optionally FOLIO_CANCEL_INPUT, FOLIO_GCS)');
  process.exit(2);
}
const outPrefix = output.endsWith('/') ? output : output + '/';

// clientOptions returns what a Node user sets to reach Folio on transport.
function clientOptions(transport, {decodeErrors = true} = {}) {
  if (transport === 'grpc') {
    const i = grpcAddr.lastIndexOf(':');
    return {
      apiEndpoint: grpcAddr.slice(0, i),
      port: Number(grpcAddr.slice(i + 1)),
      // Plain-text HTTP/2: with sslCreds set, google-gax uses them as the
      // channel credentials and adds no call credentials.
      sslCreds: grpc.credentials.createInsecure(),
      // Without it, google-gax still asks Application Default Credentials
      // for a universe domain (a metadata-server probe and a warning).
      authClient: new PassThroughClient(),
    };
  }
  const u = new URL(restURL);
  return {
    fallback: true, // REST (HTTP/1.1 + JSON)
    protocol: u.protocol.replace(/:$/, ''), // 'http'
    apiEndpoint: u.hostname,
    port: Number(u.port) || (u.protocol === 'https:' ? 443 : 80),
    // An auth client that adds no credentials. google-gax 5 sends REST
    // calls through it (gaxios 7), and gaxios throws on any status >= 300
    // before google-gax can decode Google's error body: a GaxiosError with
    // code 400 and the body as its message. Accepting every status lets
    // google-gax decode the body into a GoogleError (gRPC code,
    // statusDetails), as google-gax >= 6.5 does by itself.
    authClient: decodeErrors
      ? new PassThroughClient({transporterOptions: {validateStatus: () => true}})
      : new PassThroughClient(),
  };
}

// ---- checks ----

let failures = 0;

// check runs fn and prints one line: ok with fn's description, or FAIL
// with the error's message.
async function check(name, fn) {
  const start = Date.now();
  try {
    const detail = await withTimeout(fn(), WAIT_TIMEOUT + CALL_TIMEOUT, name);
    console.log(`ok   ${name}${detail ? ': ' + detail : ''} (${Date.now() - start} ms)`);
    return true;
  } catch (err) {
    failures++;
    console.log(`FAIL ${name}: ${describe(err)} (${Date.now() - start} ms)`);
    return false;
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function describe(err) {
  if (!(err instanceof Error)) return String(err);
  const code = err.code !== undefined ? ` [code ${err.code}, ${err.constructor.name}]` : '';
  const msg = err.message.length > 600 ? err.message.slice(0, 600) + '…' : err.message;
  return msg + code;
}

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

function equal(got, want, what) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

// rejects awaits p and returns its error, failing if p succeeds.
async function rejects(p, what) {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error(`${what} succeeded, want an error`);
}

function fileRequest(uri, dest, batchSize) {
  return {
    inputConfig: {gcsSource: {uri}, mimeType: 'application/pdf'},
    features: [{type: 'DOCUMENT_TEXT_DETECTION'}],
    outputConfig: {gcsDestination: {uri: dest}, batchSize},
  };
}

const opts = {timeout: CALL_TIMEOUT};

// submitAndWait starts one file operation with client, waits for it with
// operation.promise(), and checks that the response echoes the output
// config. It returns the operation's name.
async function submitAndWait(client, request, dest, batchSize, namePrefix) {
  const [operation] = await client.asyncBatchAnnotateFiles(request, opts);
  expect(operation.name?.startsWith(namePrefix), `operation name ${operation.name}, want ${namePrefix}…`);
  const [response, metadata] = await withTimeout(operation.promise(), WAIT_TIMEOUT, 'operation.promise()');
  const out = response.responses?.[0]?.outputConfig;
  equal(response.responses?.length, 1, 'responses');
  equal(out?.gcsDestination?.uri, dest, 'response outputConfig.gcsDestination.uri');
  equal(out?.batchSize, batchSize, 'response outputConfig.batchSize');
  equal(metadata?.state, State.DONE, 'metadata.state');
  return operation.name;
}

// checkOutputs lists the objects under dest in the emulator and checks that
// they are output-A-to-B.json files covering pages 1..N in order, at most
// batchSize pages each, for input.
async function checkOutputs(dest, batchSize, uri) {
  if (!gcs) return 'skipped (FOLIO_GCS unset)';
  const m = dest.match(/^gs:\/\/([^/]+)\/(.*)$/);
  const [bucket, prefix] = [m[1], m[2]];
  const base = `${gcs.replace(/\/$/, '')}/storage/v1/b/${encodeURIComponent(bucket)}/o`;
  const res = await fetch(`${base}?prefix=${encodeURIComponent(prefix)}`);
  expect(res.ok, `list ${dest}: HTTP ${res.status}`);
  const names = ((await res.json()).items ?? []).map(o => o.name.slice(prefix.length));
  const ranges = names.map(n => n.match(/^output-(\d+)-to-(\d+)\.json$/))
    .map((r, i) => {
      expect(r, `unexpected object ${prefix}${names[i]}`);
      return [Number(r[1]), Number(r[2])];
    })
    .sort((a, b) => a[0] - b[0]);
  expect(ranges.length > 0, `no output under ${dest}`);
  let next = 1;
  for (const [first, last] of ranges) {
    expect(first === next && last >= first && last - first < batchSize,
      `outputs ${names.join(', ')} do not cover pages 1..N in ranges of at most ${batchSize}`);
    next = last + 1;
  }
  const first = await fetch(`${base}/${encodeURIComponent(prefix + `output-1-to-${ranges[0][1]}.json`)}?alt=media`);
  expect(first.ok, `read output-1-to-${ranges[0][1]}.json: HTTP ${first.status}`);
  const body = await first.json();
  equal(body.responses?.[0]?.context?.uri, uri, 'responses[0].context.uri');
  equal(body.responses?.[0]?.context?.pageNumber, 1, 'responses[0].context.pageNumber');
  return `${ranges.length} objects, pages 1-${next - 1}`;
}

// badRequest sends a request with batchSize 101 (over 100) through client.
function badRequest(client) {
  return client.asyncBatchAnnotateFiles({requests: [fileRequest(input, outPrefix + 'bad/', 101)]}, opts);
}

const wantField = 'requests[0].outputConfig.batchSize';

async function checkTransport(transport) {
  const t = transport.padEnd(4);
  const client = new vision.ImageAnnotatorClient(clientOptions(transport));
  const beta = new vision.v1p4beta1.ImageAnnotatorClient(clientOptions(transport));
  const ops = client.operationsClient;
  const created = []; // names of operations this transport created and kept
  let v1Name;
  let cancelName;

  const v1Dest = `${outPrefix}${transport}/v1/`;
  const reached = await check(`${t} v1 asyncBatchAnnotateFiles → operation.promise()`, async () => {
    v1Name = await submitAndWait(client, {
      parent: 'projects/demo/locations/eu',
      requests: [fileRequest(input, v1Dest, 2)],
    }, v1Dest, 2, 'projects/demo/locations/eu/operations/');
    created.push(v1Name);
    return `${v1Name} DONE, response echoes ${v1Dest} batchSize 2`;
  });
  if (!reached) { // the rest would fail the same way, each after a timeout
    console.log(`FAIL ${t} remaining checks skipped: the first call failed`);
    await Promise.all([client.close(), beta.close()]);
    return;
  }

  await check(`${t} v1 output objects`, () => checkOutputs(v1Dest, 2, input));

  await check(`${t} v1 checkAsyncBatchAnnotateFilesProgress`, async () => {
    expect(v1Name, 'no operation (submit failed)');
    const decoded = await client.checkAsyncBatchAnnotateFilesProgress(v1Name);
    equal(decoded.done, true, 'done');
    equal(decoded.metadata?.state, State.DONE, 'metadata.state');
    equal(decoded.result?.responses?.[0]?.outputConfig?.gcsDestination?.uri, v1Dest, 'result outputConfig');
    return 'done, metadata DONE, result decoded';
  });

  await check(`${t} v1 operationsClient.getOperation`, async () => {
    expect(v1Name, 'no operation (submit failed)');
    const [op] = await ops.getOperation({name: v1Name}, opts);
    equal(op.name, v1Name, 'name');
    equal(op.done, true, 'done');
    const typeUrl = op.response?.type_url ?? op.response?.typeUrl;
    equal(typeUrl, 'type.googleapis.com/google.cloud.vision.v1.AsyncBatchAnnotateFilesResponse', 'response @type');
    return typeUrl;
  });

  const betaDest = `${outPrefix}${transport}/v1p4beta1/`;
  let betaName;
  await check(`${t} v1p4beta1 asyncBatchAnnotateFiles → operation.promise()`, async () => {
    betaName = await submitAndWait(beta, {requests: [fileRequest(input, betaDest, 3)]}, betaDest, 3, 'operations/');
    created.push(betaName);
    return `${betaName} DONE, response echoes ${betaDest} batchSize 3`;
  });

  await check(`${t} v1p4beta1 operationsClient.getOperation`, async () => {
    expect(betaName, 'no operation (submit failed)');
    const [op] = await beta.operationsClient.getOperation({name: betaName}, opts);
    equal(op.done, true, 'done');
    const typeUrl = op.response?.type_url ?? op.response?.typeUrl;
    equal(typeUrl, 'type.googleapis.com/google.cloud.vision.v1p4beta1.AsyncBatchAnnotateFilesResponse', 'response @type');
    const decoded = await beta.checkAsyncBatchAnnotateFilesProgress(betaName);
    equal(decoded.result?.responses?.[0]?.outputConfig?.gcsDestination?.uri, betaDest, 'checkAsyncBatchAnnotateFilesProgress result');
    return typeUrl;
  });

  await check(`${t} operationsClient.cancelOperation`, async () => {
    const dest = `${outPrefix}${transport}/cancel/`;
    const [operation] = await client.asyncBatchAnnotateFiles({requests: [fileRequest(cancelInput, dest, 1)]}, opts);
    cancelName = operation.name;
    await ops.cancelOperation({name: cancelName}, opts);
    const err = await rejects(withTimeout(operation.promise(), WAIT_TIMEOUT, 'operation.promise()'), 'operation.promise() after cancel');
    equal(err.code, Code.CANCELLED, `operation.promise() error ${describe(err)}: code`);
    const decoded = await client.checkAsyncBatchAnnotateFilesProgress(cancelName);
    equal(decoded.done, true, 'done');
    equal(decoded.error?.code, Code.CANCELLED, 'checkAsyncBatchAnnotateFilesProgress error.code');
    // google-gax does not decode the metadata of an operation that ended
    // with an error; decode the raw Any.
    const [op] = await ops.getOperation({name: cancelName}, opts);
    equal(op.error?.code, Code.CANCELLED, 'getOperation error.code');
    const metadata = google.cloud.vision.v1.OperationMetadata.decode(op.metadata.value);
    equal(metadata.state, State.CANCELLED, 'metadata.state');
    return `${cancelName}: promise() rejects with code 1, error.code 1, metadata CANCELLED`;
  });

  await check(`${t} operationsClient.deleteOperation`, async () => {
    expect(cancelName, 'no operation (cancel check failed)');
    await ops.deleteOperation({name: cancelName}, opts);
    const err = await rejects(ops.getOperation({name: cancelName}, opts), 'getOperation after delete');
    equal(err.code, Code.NOT_FOUND, `getOperation after delete: ${describe(err)}: code`);
    return `${cancelName} deleted, getOperation then NOT_FOUND (5)`;
  });

  await check(`${t} operationsClient.listOperations pageSize 1 with page tokens`, async () => {
    const seen = [];
    let request = {name: 'operations', pageSize: 1};
    let pages = 0;
    while (request) {
      const [page, next] = await ops.listOperations(request, {...opts, autoPaginate: false});
      pages++;
      expect(page.length <= 1, `page ${pages} has ${page.length} operations, want at most 1`);
      seen.push(...page.map(op => op.name));
      expect(!next || next.pageToken, 'next request without a pageToken');
      request = next;
      expect(pages <= 1000, 'more than 1000 pages');
    }
    expect(new Set(seen).size === seen.length, `an operation is listed twice: ${seen.join(', ')}`);
    for (const name of created) expect(seen.includes(name), `${name} not listed`);
    expect(!cancelName || !seen.includes(cancelName), `deleted ${cancelName} still listed`);
    expect(seen.length >= 2 && pages >= seen.length, `${seen.length} operations on ${pages} pages of 1`);
    const all = [];
    for await (const op of ops.listOperationsAsync({name: 'operations', pageSize: 1}, {...opts, autoPaginate: false})) all.push(op.name);
    equal(all.join(','), seen.join(','), 'listOperationsAsync');
    return `${seen.length} operations on ${pages} pages, same through listOperationsAsync`;
  });

  await check(`${t} bad request (batchSize 101) → INVALID_ARGUMENT with field violation`, async () => {
    const err = await rejects(badRequest(client), 'batchSize 101');
    equal(err.code, Code.INVALID_ARGUMENT, `error ${describe(err)}: code`);
    expect(err.message.includes('batchSize'), `message ${JSON.stringify(err.message)} does not name batchSize`);
    const bad = err.statusDetails?.find(d => d.fieldViolations);
    expect(bad, `no google.rpc.BadRequest in error.statusDetails (${JSON.stringify(err.statusDetails)})`);
    equal(bad.fieldViolations[0]?.field, wantField, 'statusDetails BadRequest fieldViolations[0].field');
    if (transport === 'grpc') {
      expect(err.metadata?.get('grpc-status-details-bin')?.length === 1, 'no grpc-status-details-bin in error.metadata');
      return `code 3, error.statusDetails[0].fieldViolations[0].field ${wantField}, error.metadata grpc-status-details-bin`;
    }
    return `code 3, error.statusDetails[0].fieldViolations[0].field ${wantField}`;
  });

  if (transport === 'rest') {
    // What a user gets with google-gax 5 and an auth client that leaves
    // gaxios's default validateStatus: the error body, undecoded.
    await check(`${t} bad request, default validateStatus → GaxiosError with Google's error body`, async () => {
      const plain = new vision.ImageAnnotatorClient(clientOptions(transport, {decodeErrors: false}));
      try {
        const err = await rejects(badRequest(plain), 'batchSize 101');
        equal(err.status, 400, `error ${describe(err)}: HTTP status`);
        const body = JSON.parse(err.message).error;
        equal(body.status, 'INVALID_ARGUMENT', 'body error.status');
        const bad = body.details?.find(d => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest');
        equal(bad?.fieldViolations?.[0]?.field, wantField, 'body BadRequest fieldViolations[0].field');
        return `error.code ${err.code}, JSON.parse(error.message).error.status INVALID_ARGUMENT with BadRequest ${wantField}`;
      } finally {
        await plain.close();
      }
    });
  }

  await Promise.all([client.close(), beta.close()]);
}

const started = Date.now();
console.log(`@google-cloud/vision against Folio: REST ${restURL}, gRPC ${grpcAddr}, input ${input}, outputs under ${outPrefix}`);
for (const transport of ['grpc', 'rest']) {
  await checkTransport(transport);
}
if (failures > 0) {
  console.log(`${failures} check(s) failed (${Date.now() - started} ms)`);
  process.exit(1);
}
console.log(`all checks passed (${Date.now() - started} ms)`);
process.exit(0);
