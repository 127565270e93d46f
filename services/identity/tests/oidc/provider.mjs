// The OpenID provider of the identity service's tests: oidc-provider, a
// certified implementation, with one confidential client and people made
// up from the `login_hint` of the authorization request, signed in (and
// their consent given) as soon as the browser arrives.
//
//   node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// The hint is the person's email. Two prefixes make a misbehaving case:
// `unverified.` gives an email the provider has not verified, and
// `other-audience.` gets an id_token made for another client (signed with
// the provider's own key, so only its audience is wrong). Prints
// `listening` once it serves.

import { createServer } from 'node:http';
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The email in the id_token itself, not only from the userinfo endpoint.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        const email = sub.replace(/^unverified\./, '');
        return { sub, email, email_verified: !sub.startsWith('unverified.'), name: `Test ${email}` };
      },
    };
  },
});

const b64url = (value) => Buffer.from(value).toString('base64url');

// Re-signs an id_token made for an `other-audience.` person with another
// audience.
provider.use(async (ctx, next) => {
  await next();
  const token = ctx.path === '/token' && ctx.body && ctx.body.id_token;
  if (!token) return;
  const [head, body] = token.split('.');
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
  if (!claims.sub.startsWith('other-audience.')) return;
  claims.aud = 'another-client';
  const signed = `${head}.${b64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(signed), createPrivateKey({ key: jwk, format: 'jwk' }));
  ctx.body = { ...ctx.body, id_token: `${signed}.${b64url(signature)}` };
});

const callback = provider.callback();
const server = createServer(async (req, res) => {
  if (!req.url.startsWith('/interaction/')) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    const accountId = details.params.login_hint;
    if (!accountId) {
      res.statusCode = 400;
      return res.end('login_hint required');
    }
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
  } catch (err) {
    res.statusCode = 500;
    res.end(String(err));
  }
});
server.listen(Number(port), '127.0.0.1', () => console.log('listening'));
