// Builds OpenZeppelin's StandardMerkleTree for the interop tests in test_merkle.py.
//
// Usage: node tests/printfair/merkle_interop.mjs INPUT.json
// Input:  {"types": ["bytes32"], "values": [["0x…"], …]}  (values as the JS library takes them)
// Output: {"root": "0x…", "leaves": [{"hash": "0x…", "proof": ["0x…", …]}, …]} on stdout, one
//         entry per input value in input order; proofs are looked up by value, as a client would.
import { readFileSync } from "node:fs";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";

const { types, values } = JSON.parse(readFileSync(process.argv[2], "utf8"));
const tree = StandardMerkleTree.of(values, types);
const leaves = values.map((value) => ({
  hash: tree.leafHash(value),
  proof: tree.getProof(value),
}));
process.stdout.write(JSON.stringify({ root: tree.root, leaves }));
