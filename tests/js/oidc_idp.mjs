// An independent OpenID provider for the federation tests: the OpenID-certified `oidc-provider`
// package served over HTTPS on loopback. A workload gets a JWT the way a machine client does,
// with the client_credentials grant at the token endpoint; the token is a JWT access token
// signed RS256 by the provider's key, whose public half is at the discovered jwks_uri.
//
// Environment: IDP_CERT, IDP_KEY (PEM files of the server certificate, from the test's CA),
// IDP_SIGNING_JWK (a file holding the private RSA signing key as a JWK, with its kid),
// IDP_CLIENTS (JSON list of {"client_id", "client_secret"}; a token's sub is its client_id),
// IDP_AUDIENCE (the aud of every token), IDP_PORT (0 or absent: any free port),
// IDP_HOST (the host name in the issuer URL: 127.0.0.1 unless set).
// Prints one JSON line {"issuer": ...} once it listens; stops on SIGTERM.
// GET /test/jwks-requests answers how many times the JWKS document was fetched.
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import Provider from "oidc-provider";

const audience = process.env.IDP_AUDIENCE ?? "sts.amazonaws.com";
const clients = JSON.parse(process.env.IDP_CLIENTS ?? "[]").map((client) => ({
  ...client,
  grant_types: ["client_credentials"],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: "client_secret_basic",
}));
// made by the test, not here: Node 20 can deadlock exporting a key generateKeyPairSync made
// when a garbage collection runs during the export
const signingKey = JSON.parse(readFileSync(process.env.IDP_SIGNING_JWK, "utf8"));

let jwksRequests = 0;
let handler = null;
const server = createServer(
  { cert: readFileSync(process.env.IDP_CERT), key: readFileSync(process.env.IDP_KEY) },
  (req, res) => {
    if (req.url === "/test/jwks-requests") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ count: jwksRequests }));
      return;
    }
    if (req.url.split("?")[0] === "/jwks") jwksRequests += 1;
    handler(req, res);
  },
);

server.listen(Number(process.env.IDP_PORT ?? 0), "127.0.0.1", () => {
  const issuer = `https://${process.env.IDP_HOST ?? "127.0.0.1"}:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signingKey] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => "urn:tessera:sts",
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: "sts",
          audience,
          accessTokenTTL: 3600,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "RS256" } },
        }),
      },
    },
  });
  handler = provider.callback();
  console.log(JSON.stringify({ issuer }));
});

process.on("SIGTERM", () => server.close(() => process.exit(0)));
