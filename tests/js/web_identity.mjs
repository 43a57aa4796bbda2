// Keyless credentials from Tessera with the stock AWS SDK for JavaScript v3, as a workload gets
// them: each provider reads only its standard environment variables, then the credentials it
// got call GetCallerIdentity. Prints one JSON object.
//
// fromTokenFile:         AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, AWS_ROLE_SESSION_NAME
//                        (AssumeRoleWithWebIdentity at TESSERA_ENDPOINT)
// fromHttp:              AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
// fromContainerMetadata: AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN
//                        (this older provider reads the token itself, never a file)
import { readFileSync } from "node:fs";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { fromContainerMetadata, fromHttp, fromTokenFile } from "@aws-sdk/credential-providers";

const endpoint = process.env.TESSERA_ENDPOINT;
const region = "us-east-1";

async function identity(provider) {
  const credentials = await provider();
  const sts = new STSClient({ endpoint, region, credentials, maxAttempts: 1 });
  const caller = await sts.send(new GetCallerIdentityCommand({}));
  return { arn: caller.Arn, accessKeyId: credentials.accessKeyId, expiration: credentials.expiration.toISOString() };
}

async function outcome(provider) {
  try {
    return await identity(provider);
  } catch (error) {
    return { error: error.name, code: error.Code ?? null, message: error.message };
  }
}

const out = {};
out.tokenFile = await outcome(fromTokenFile({ clientConfig: { endpoint, region, maxAttempts: 1 } }));
out.http = await outcome(fromHttp({ maxRetries: 0 }));
process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = readFileSync(process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, "utf8");
out.containerMetadata = await outcome(fromContainerMetadata({ maxRetries: 0 }));
console.log(JSON.stringify(out));
