#!/usr/bin/env node
// An independent signer for Sextant's signature tests (not the code under test): sigstore-js
// (@sigstore/sign) signs in-toto statements about image digests against @sigstore/mock's Fulcio,
// Rekor and timestamp authority, served in this process; @sigstore/oci attaches each bundle to
// its image in a real registry (the OCI referrers API, or the referrers tag schema where the
// registry has none). The mocks' trust root is written as a Sigstore trusted_root.json.
//
//   node scripts/sigstore/sign.cjs < request.json
//
// request: {"trustedRoot": "/path/trusted_root.json",
//           "jobs": [{"image": "127.0.0.1:5000/hash-service", "digest": "sha256:…",
//                     "subject": "sha256:… (the digest the statement names; default: digest)",
//                     "identity": "https://github.com/o/r/.github/workflows/app.yml@refs/heads/main",
//                     "issuer": "https://token.actions.githubusercontent.com",
//                     "predicateType": "https://sigstore.dev/cosign/sign/v1",
//                     "witnesses": ["tlog", "tsa"] (default both; [] for none),
//                     "signedAt": "2020-01-01T00:00:00Z" (the CA's clock; default now),
//                     "out": "/path/bundle.json" (write the bundle there instead of attaching it)}]}
// It prints one line per job: the artifact's digest in the registry, or the file written.
'use strict';
const path = require('path');
const fs = require('fs');
const crypto = require('crypto');
const modules = process.env.SIGNER_MODULES || path.join(__dirname, '../../.tools/sigstore/node_modules');
const need = (m) => require(path.join(modules, m));
const nock = need('nock');
const mock = need('@sigstore/mock');
const sign = need('@sigstore/sign');
const oci = need('@sigstore/oci');
const { bundleToJSON } = need('@sigstore/bundle');

const FULCIO = 'https://fulcio.mock.test';
const REKOR = 'https://rekor.mock.test';
const TSA = 'https://tsa.mock.test';
const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

// One CA, log and timestamp authority serve every job of a request, so one trust root covers
// them all; a job with its own clock gets a CA of its own over the same key.
const keys = { ca: pair(), tlog: pair(), tsa: pair(), ct: pair() };

function pair() {
  return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

function unsignedJwt(claims) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claims)}.`;
}

async function services() {
  const ct = await mock.initializeCTLog(keys.ct);
  const ca = await mock.initializeCA(keys.ca, ct);
  const tlog = await mock.initializeTLog(REKOR, keys.tlog);
  const tsa = await mock.initializeTSA(keys.tsa);
  return { ct, ca, tlog, tsa };
}

function serve(handler, base) {
  nock(base).post(handler.path).reply(async (_uri, body) => {
    const req = typeof body === 'string' ? body : JSON.stringify(body);
    const r = await handler.fn(req);
    return [r.statusCode, r.response, { 'Content-Type': r.contentType || 'text/plain' }];
  });
}

function trustedRoot(s) {
  const start = new Date(Date.UTC(2000, 0, 1)).toISOString();
  const b64 = (b) => Buffer.from(b).toString('base64');
  const keyId = (k) => b64(crypto.createHash('sha256').update(k).digest());
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{
      baseUrl: REKOR,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(s.tlog.publicKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } },
      logId: { keyId: keyId(s.tlog.publicKey) },
    }],
    certificateAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
      uri: FULCIO,
      certChain: { certificates: [{ rawBytes: b64(s.ca.rootCertificate) }] },
      validFor: { start },
    }],
    ctlogs: [],
    timestampAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'tsa' },
      uri: TSA,
      certChain: { certificates: [{ rawBytes: b64(s.tsa.intCertificate) }, { rawBytes: b64(s.tsa.rootCertificate) }] },
      validFor: { start },
    }],
  };
}

async function signOne(s, job) {
  const ca = job.signedAt ? await mock.initializeCA(keys.ca, s.ct, new Date(job.signedAt)) : s.ca;
  serve(mock.fulcioHandler(ca), FULCIO);
  serve(mock.rekorHandler(s.tlog), REKOR);
  serve(mock.tsaHandler(s.tsa), TSA);
  const witnesses = [];
  const wanted = job.witnesses || ['tlog', 'tsa'];
  if (wanted.includes('tlog')) witnesses.push(new sign.RekorWitness({ rekorBaseURL: REKOR, entryType: 'dsse' }));
  if (wanted.includes('tsa')) witnesses.push(new sign.TSAWitness({ tsaBaseURL: TSA }));
  const token = unsignedJwt({ iss: job.issuer, sub: job.identity, aud: 'sigstore' });
  const signer = new sign.FulcioSigner({ fulcioBaseURL: FULCIO, identityProvider: { getToken: async () => token } });
  const builder = new sign.DSSEBundleBuilder({ signer, witnesses });
  const subject = job.subject || job.digest;
  const [alg, hex] = subject.split(':');
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: job.image, digest: { [alg]: hex } }],
    predicateType: job.predicateType || 'https://sigstore.dev/cosign/sign/v1',
    predicate: job.predicate || {},
  };
  const bundle = await builder.create({ data: Buffer.from(JSON.stringify(statement)), type: 'application/vnd.in-toto+json' });
  const json = bundleToJSON(bundle);
  if (job.out) {
    fs.writeFileSync(job.out, JSON.stringify(json));
    return job.out;
  }
  const desc = await oci.attachArtifactToImage({
    imageName: job.image,
    imageDigest: job.digest,
    artifact: Buffer.from(JSON.stringify(json)),
    mediaType: BUNDLE_TYPE,
    annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': statement.predicateType },
    // The test registry asks no credentials: none are sent.
    credentials: undefined,
  });
  return desc.digest;
}

async function main() {
  const request = JSON.parse(fs.readFileSync(0, 'utf8'));
  const s = await services();
  for (const job of request.jobs) {
    process.stdout.write(`${await signOne(s, job)}\n`);
  }
  if (request.trustedRoot) {
    fs.writeFileSync(request.trustedRoot, JSON.stringify(trustedRoot(s), null, 2));
  }
}

main().catch((e) => {
  process.stderr.write(`sign.cjs: ${e.stack || e}\n${e.cause ? `caused by: ${e.cause.stack || e.cause}\n` : ''}`);
  process.exit(1);
});
