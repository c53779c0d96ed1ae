// A real OpenID Connect provider (panva's oidc-provider, a certified implementation) for the
// dashboard's browser tests: `node server.mjs` with
//   PORT          the port on 127.0.0.1 (the issuer is http://127.0.0.1:PORT)
//   REDIRECT_URI  the dashboard's /login/oidc/callback
//   CLIENT_ID, CLIENT_SECRET  the one client (PKCE required, client_secret_basic)
//   USERS         JSON {"login": ["group", ...]}: who may sign in, with their groups claim
// devInteractions serve the login form (any password) and the consent page.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const users = JSON.parse(process.env.USERS);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: [process.env.REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  cookies: { keys: ['foredeck-browser-tests-only'] },
  async findAccount(ctx, id) {
    if (!Object.hasOwn(users, id)) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, groups: users[id] };
      },
    };
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
