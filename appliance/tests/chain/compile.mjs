// Compiles TestNFT.sol with solc-js and prints {"abi": ..., "bytecode": "0x..."} on stdout.
import fs from "node:fs";
import { createRequire } from "node:module";
import solc from "solc";

const require = createRequire(import.meta.url);
const source = fs.readFileSync(new URL("./TestNFT.sol", import.meta.url), "utf8");
const input = {
  language: "Solidity",
  sources: { "TestNFT.sol": { content: source } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
function findImports(path) {
  try {
    return { contents: fs.readFileSync(require.resolve(path), "utf8") };
  } catch (e) {
    return { error: `cannot find ${path}` };
  }
}
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length > 0) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const contract = output.contracts["TestNFT.sol"].TestNFT;
process.stdout.write(
  JSON.stringify({ abi: contract.abi, bytecode: "0x" + contract.evm.bytecode.object }),
);
