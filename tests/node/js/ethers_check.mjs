// Drives a Gongfen node with unmodified ethers.js v6 and prints one JSON line
// of findings for the Python test to assert on.
// Usage: node ethers_check.mjs RPC_URL PRIVATE_KEY ABI_JSON BYTECODE
import { readFileSync } from "node:fs";
import { ethers } from "ethers";

const [rpcUrl, privateKey, abiPath, bytecode] = process.argv.slice(2);
const abi = JSON.parse(readFileSync(abiPath, "utf8"));
const provider = new ethers.JsonRpcProvider(rpcUrl, undefined, { polling: true, pollingInterval: 100 });
const wallet = new ethers.Wallet(privateKey, provider);
const findings = {};

const network = await provider.getNetwork();
findings.chainId = Number(network.chainId);
findings.blockNumber = await provider.getBlockNumber();
findings.balanceBefore = (await provider.getBalance(wallet.address)).toString();
const feeData = await provider.getFeeData();
findings.gasPrice = feeData.gasPrice.toString();

const factory = new ethers.ContractFactory(abi, bytecode, wallet);
const probe = await factory.deploy();
await probe.waitForDeployment();
findings.deployed = await probe.getAddress();

const sent = await probe.store(5, 77);
const receipt = await sent.wait();
findings.status = receipt.status;
findings.logs = receipt.logs.length;
findings.stored = (await probe.values(5)).toString();

try {
  await probe.must_be_positive(0);
  findings.revert = "no revert";
} catch (error) {
  findings.revert = error.code + ":" + error.reason;
}

const block = await provider.getBlock(receipt.blockNumber, true);
findings.blockHashMatches = block.hash === receipt.blockHash;
const events = await probe.queryFilter(probe.filters.Stored(), receipt.blockNumber, receipt.blockNumber);
findings.events = events.map((e) => e.args.amount.toString());

const plain = await wallet.sendTransaction({ to: wallet.address, value: 1n });
findings.plainStatus = (await plain.wait()).status;

console.log(JSON.stringify(findings));
provider.destroy();
