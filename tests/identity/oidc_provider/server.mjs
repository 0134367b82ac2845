// A real OpenID provider (oidc-provider from npm) on 127.0.0.1 that looks like Microsoft Entra ID v2 to the suite:
// issuer http://127.0.0.1:<port>/<directory>/v2.0, ID tokens carrying tid, oid, groups, roles and
// preferred_username and no email_verified, PKCE required for every client. The development login form accepts
// any password; the login name picks one of the test people below.
//
// Environment: DIRECTORY, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_REDIRECT_URI, PEOPLE (JSON:
// {login: {oid, groups, roles, name}}). Prints one JSON line {"issuer", "port"} when it listens.
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const directory = process.env.DIRECTORY;
const people = JSON.parse(process.env.PEOPLE || '{}');
const mount = `/${directory}/v2.0`;

const signing = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}${mount}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    post_logout_redirect_uris: [process.env.POST_LOGOUT_REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  jwks: { keys: [{ ...signing, kid: 'oidc-provider-key-1', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: ['test-only-cookie-key'] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'tid', 'oid', 'groups', 'roles'],
    email: ['email'],
  },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  async findAccount(ctx, login) {
    const person = people[login];
    if (!person) return undefined;
    return {
      accountId: login,
      async claims() {
        return {
          sub: person.oid, tid: directory, oid: person.oid, groups: person.groups || [],
          roles: person.roles || [], name: person.name, preferred_username: `${login}@example.test`,
          email: `${login}@example.test`,
        };
      },
    };
  },
});
const callback = provider.callback();

server.on('request', (req, res) => {
  if (!req.url.startsWith(mount)) {
    res.writeHead(404).end();
    return;
  }
  req.originalUrl = req.url;
  req.url = req.url.slice(mount.length) || '/';
  callback(req, res);
});

process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
