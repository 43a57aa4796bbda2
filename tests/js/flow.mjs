// Drives Tessera with the stock AWS SDK for JavaScript v3; prints one JSON object.
// Environment: TESSERA_ENDPOINT, ROOT_KEY_ID, ROOT_SECRET, ACCOUNT_ID.
import { IAMClient, CreateUserCommand, CreateAccessKeyCommand, CreateRoleCommand,
  PutUserPolicyCommand, ListUsersCommand } from "@aws-sdk/client-iam";
import { STSClient, GetCallerIdentityCommand, AssumeRoleCommand } from "@aws-sdk/client-sts";

const endpoint = process.env.TESSERA_ENDPOINT;
const region = "us-east-1";
const account = process.env.ACCOUNT_ID;
const client = (Kind, credentials) => new Kind({ endpoint, region, credentials, maxAttempts: 1 });
const root = { accessKeyId: process.env.ROOT_KEY_ID, secretAccessKey: process.env.ROOT_SECRET };

const out = {};
out.rootArn = (await client(STSClient, root).send(new GetCallerIdentityCommand({}))).Arn;

const iam = client(IAMClient, root);
await iam.send(new CreateUserCommand({ UserName: "js-user" }));
const key = (await iam.send(new CreateAccessKeyCommand({ UserName: "js-user" }))).AccessKey;
const user = { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey };
await iam.send(new PutUserPolicyCommand({ UserName: "js-user", PolicyName: "assume",
  PolicyDocument: JSON.stringify({ Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: "*" }] }) }));
await iam.send(new CreateRoleCommand({ RoleName: "js-role",
  AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow",
    Principal: { AWS: account }, Action: "sts:AssumeRole",
    Condition: { StringEquals: { "sts:ExternalId": "js-ext" } } }] }) }));

try {
  await client(IAMClient, user).send(new ListUsersCommand({}));
  out.denied = null;
} catch (error) {
  out.denied = error.name;
}

const assumed = await client(STSClient, user).send(new AssumeRoleCommand({
  RoleArn: `arn:aws:iam::${account}:role/js-role`, RoleSessionName: "js-session", ExternalId: "js-ext" }));
out.assumedArn = assumed.AssumedRoleUser.Arn;
out.expiration = assumed.Credentials.Expiration.toISOString();
const session = { accessKeyId: assumed.Credentials.AccessKeyId, secretAccessKey: assumed.Credentials.SecretAccessKey,
  sessionToken: assumed.Credentials.SessionToken };
out.sessionArn = (await client(STSClient, session).send(new GetCallerIdentityCommand({}))).Arn;
console.log(JSON.stringify(out));
