// Signs and verifies PrintFair sealed bids with ethers v6, for the interop tests in test_eip712.py.
//
// Usage: node tests/printfair/eip712_interop.mjs JSON
// Input:  {"sign": [SignCase, …], "verify": [VerifyCase, …]} with integers as decimal strings.
//   SignCase   = {privateKey, chainId, contract, jobId, price, leadTimeDays, salt, version}
//                Builds domain, types and commitment here from the spec, independently of Python,
//                and signs with Wallet.signTypedData.
//   VerifyCase = {typedData, signature}: typedData is the full EIP-712 structure made by
//                printfair.eip712.sealed_bid_typed_data, signature made by its Python signer.
// Output: {"sign": [{address, commitment, digest, signature}, …],
//          "verify": [{signer, digest, payload}, …]} on stdout, in input order; payload is
//          TypedDataEncoder.getPayload, the structure ethers would hand to eth_signTypedData_v4.
import { AbiCoder, TypedDataEncoder, Wallet, keccak256, verifyTypedData } from "ethers";

const DOMAIN_NAME = "PrintFair AuctionHouse";
const DOMAIN_VERSION = "1";
const SEALED_BID_TYPES = {
  SealedBid: [
    { name: "jobId", type: "uint256" },
    { name: "shop", type: "address" },
    { name: "commitment", type: "bytes32" },
    { name: "version", type: "uint64" },
  ],
};

async function sign(c) {
  const wallet = new Wallet(c.privateKey);
  const commitment = keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["uint256", "address", "uint256", "uint32", "bytes32"],
      [BigInt(c.jobId), wallet.address, BigInt(c.price), BigInt(c.leadTimeDays), c.salt],
    ),
  );
  const domain = {
    name: DOMAIN_NAME,
    version: DOMAIN_VERSION,
    chainId: BigInt(c.chainId),
    verifyingContract: c.contract,
  };
  const value = {
    jobId: BigInt(c.jobId),
    shop: wallet.address,
    commitment,
    version: BigInt(c.version),
  };
  return {
    address: wallet.address,
    commitment,
    digest: TypedDataEncoder.hash(domain, SEALED_BID_TYPES, value),
    signature: await wallet.signTypedData(domain, SEALED_BID_TYPES, value),
  };
}

function verify(c) {
  // ethers derives EIP712Domain from the domain itself and refuses it among the types.
  const { EIP712Domain, ...types } = c.typedData.types;
  const { domain, message } = c.typedData;
  const payload = TypedDataEncoder.getPayload(domain, types, message);
  if (payload.primaryType !== c.typedData.primaryType) {
    throw new Error(`primary type ${payload.primaryType} != ${c.typedData.primaryType}`);
  }
  if (JSON.stringify(payload.types.EIP712Domain) !== JSON.stringify(EIP712Domain)) {
    throw new Error(`EIP712Domain ${JSON.stringify(EIP712Domain)} differs from ethers'`);
  }
  return {
    signer: verifyTypedData(domain, types, message, c.signature),
    digest: TypedDataEncoder.hash(domain, types, message),
    payload,
  };
}

const input = JSON.parse(process.argv[2]);
const output = {
  sign: await Promise.all((input.sign ?? []).map(sign)),
  verify: (input.verify ?? []).map(verify),
};
process.stdout.write(JSON.stringify(output));
