// The room's MLS (RFC 9420) member: ciphersuite 1 only, built on ts-mls. esbuild bundles this
// file into static/js/room/e2ee/mls.bundle.js (`npm run build`); the page imports the bundle.
// One member is the committer (the doctor: createGroup, addOrReplace, remove); the others only
// join from a Welcome and apply the committer's commits. Every message is checked against our
// current group and epoch, and a failed step leaves the state as it was: ts-mls's states are
// immutable values, so we adopt the new one only once a step has fully succeeded.
import {
  createCommit,
  createGroup as createMlsGroup,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  mlsExporter,
  processMessage,
  zeroOutUint8Array,
} from "ts-mls";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";

const CIPHERSUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
export const MEDIA_KEY_LABEL = "clinic-meet media v1";
const MEDIA_KEY_LENGTH = 16;
const GROUP_ID_LENGTH = 16;

export class MlsError extends Error {
  constructor(code, message, options) {
    super(message ?? code, options);
    this.name = "MlsError";
    this.code = code;
  }
}

let ciphersuitePromise;
function ciphersuite() {
  ciphersuitePromise ??= getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE));
  return ciphersuitePromise;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

function checkIdentity(identity) {
  if (
    identity === null ||
    typeof identity !== "object" ||
    !Number.isSafeInteger(identity.userId) ||
    typeof identity.role !== "string" ||
    typeof identity.name !== "string"
  ) {
    throw new MlsError("bad_identity", "identity needs {userId: integer, role: string, name: string}");
  }
  return { userId: identity.userId, role: identity.role, name: identity.name };
}

// Canonical: keys in sorted order, no other fields, so one person always has the same bytes.
function encodeIdentity(identity) {
  const { name, role, userId } = checkIdentity(identity);
  return textEncoder.encode(JSON.stringify({ name, role, userId }));
}

function decodeIdentity(bytes) {
  let parsed;
  try {
    parsed = JSON.parse(textDecoder.decode(bytes));
  } catch {
    throw new MlsError("bad_identity", "credential identity is not UTF-8 JSON");
  }
  const identity = checkIdentity(parsed);
  if (Object.keys(parsed).length !== 3) {
    throw new MlsError("bad_identity", "credential identity has unexpected fields");
  }
  return identity;
}

function identityOfLeaf(leafNode) {
  if (leafNode.credential.credentialType !== "basic") {
    throw new MlsError("bad_identity", "only basic credentials are accepted");
  }
  return decodeIdentity(leafNode.credential.identity);
}

function decodeMessage(bytes, wireformats) {
  if (!(bytes instanceof Uint8Array)) throw new MlsError("bad_message", "expected a Uint8Array");
  let decoded;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (error) {
    throw new MlsError("bad_message", "undecodable MLS message", { cause: error });
  }
  // Trailing bytes would be unauthenticated garbage riding along: refuse them too.
  if (decoded === undefined || decoded[1] !== bytes.length) {
    throw new MlsError("bad_message", "undecodable MLS message");
  }
  const message = decoded[0];
  if (message.version !== "mls10" || !wireformats.includes(message.wireformat)) {
    throw new MlsError("bad_message", `unexpected MLS message (${message.wireformat})`);
  }
  return message;
}

function equalBytes(a, b) {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

function toHex(bytes) {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function leaves(state) {
  const result = [];
  state.ratchetTree.forEach((node, nodeIndex) => {
    if (nodeIndex % 2 === 0 && node?.nodeType === "leaf") {
      result.push({ leafIndex: nodeIndex / 2, identity: identityOfLeaf(node.leaf) });
    }
  });
  return result;
}

function encodeCommitResult(result) {
  result.consumed.forEach(zeroOutUint8Array);
  return encodeMlsMessage(result.commit);
}

class Member {
  #signatureKeyPair;
  #credential;
  #state = null;
  // Key packages we handed out and may be welcomed with: private parts stay here until used.
  #pendingKeyPackages = [];
  // One operation at a time: each step reads the state it will replace.
  #queue = Promise.resolve();

  constructor(identity, signatureKeyPair) {
    this.identity = Object.freeze(checkIdentity(identity));
    this.#credential = { credentialType: "basic", identity: encodeIdentity(identity) };
    this.#signatureKeyPair = signatureKeyPair;
  }

  #serial(step) {
    const run = this.#queue.then(step);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #newKeyPackage() {
    const cs = await ciphersuite();
    return generateKeyPackageWithKey(
      this.#credential,
      defaultCapabilities(),
      defaultLifetime,
      [],
      this.#signatureKeyPair,
      cs,
    );
  }

  #activeState() {
    if (this.#state === null || this.#state.groupActiveState.kind !== "active") {
      throw new MlsError("not_in_group", "not a member of a group");
    }
    return this.#state;
  }

  keyPackage() {
    return this.#serial(async () => {
      const keyPackage = await this.#newKeyPackage();
      this.#pendingKeyPackages.push(keyPackage);
      return encodeMlsMessage({
        version: "mls10",
        wireformat: "mls_key_package",
        keyPackage: keyPackage.publicPackage,
      });
    });
  }

  createGroup() {
    return this.#serial(async () => {
      const cs = await ciphersuite();
      const keyPackage = await this.#newKeyPackage();
      const groupId = crypto.getRandomValues(new Uint8Array(GROUP_ID_LENGTH));
      this.#state = await createMlsGroup(
        groupId,
        keyPackage.publicPackage,
        keyPackage.privatePackage,
        [],
        cs,
      );
    });
  }

  async #commit(state, proposals) {
    const cs = await ciphersuite();
    try {
      return await createCommit(
        { state, cipherSuite: cs },
        { extraProposals: proposals, ratchetTreeExtension: true },
      );
    } catch (error) {
      throw new MlsError("bad_message", `commit refused: ${error.message}`, { cause: error });
    }
  }

  addOrReplace(keyPackageBytes) {
    return this.#serial(async () => {
      const state = this.#activeState();
      // createCommit validates the key package (RFC 9420 §10.1: ciphersuite, version,
      // signature, lifetime, unique keys) and refuses it otherwise: bad_message.
      const { keyPackage } = decodeMessage(keyPackageBytes, ["mls_key_package"]);
      const identity = identityOfLeaf(keyPackage.leafNode);
      const ownLeafIndex = Number(state.privatePath.leafIndex);
      if (identity.userId === this.identity.userId) {
        throw new MlsError("bad_identity", "the committer cannot replace itself");
      }
      const current = leaves(state);
      const replaced = current.filter((leaf) => leaf.identity.userId === identity.userId);
      const proposals = [
        ...replaced.map((leaf) => ({ proposalType: "remove", remove: { removed: leaf.leafIndex } })),
        { proposalType: "add", add: { keyPackage } },
      ];
      const result = await this.#commit(state, proposals);
      const welcome = encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: result.welcome });
      const commit = encodeCommitResult(result);
      const othersBefore = current.filter(
        (leaf) => leaf.leafIndex !== ownLeafIndex && leaf.identity.userId !== identity.userId,
      );
      this.#state = result.newState;
      // Nobody but the newcomer (who joins from the Welcome) would process this commit.
      return { commit: othersBefore.length === 0 ? null : commit, welcome, identity };
    });
  }

  remove(userIds) {
    return this.#serial(async () => {
      const state = this.#activeState();
      const ownLeafIndex = Number(state.privatePath.leafIndex);
      const wanted = new Set(userIds);
      const removed = leaves(state).filter(
        (leaf) => leaf.leafIndex !== ownLeafIndex && wanted.has(leaf.identity.userId),
      );
      if (removed.length === 0) return null;
      const proposals = removed.map((leaf) => ({ proposalType: "remove", remove: { removed: leaf.leafIndex } }));
      const result = await this.#commit(state, proposals);
      const commit = encodeCommitResult(result);
      this.#state = result.newState;
      return { commit };
    });
  }

  join(welcomeBytes) {
    return this.#serial(async () => {
      const cs = await ciphersuite();
      const { welcome } = decodeMessage(welcomeBytes, ["mls_welcome"]);
      if (welcome.cipherSuite !== CIPHERSUITE) throw new MlsError("bad_message", "welcome ciphersuite");
      let keyPackage;
      for (const candidate of this.#pendingKeyPackages) {
        const reference = await makeKeyPackageRef(candidate.publicPackage, cs.hash);
        if (welcome.secrets.some((secret) => equalBytes(secret.newMember, reference))) {
          keyPackage = candidate;
        }
      }
      if (keyPackage === undefined) {
        throw new MlsError("wrong_group", "the welcome is for none of our key packages");
      }
      let state;
      try {
        state = await joinGroup(
          welcome,
          keyPackage.publicPackage,
          keyPackage.privatePackage,
          emptyPskIndex,
          cs,
        );
        leaves(state); // every member's identity must be one of ours
      } catch (error) {
        throw new MlsError("bad_message", `welcome refused: ${error.message}`, { cause: error });
      }
      this.#pendingKeyPackages = this.#pendingKeyPackages.filter((candidate) => candidate !== keyPackage);
      this.#state = state;
    });
  }

  processCommit(bytes) {
    return this.#serial(async () => {
      const state = this.#activeState();
      const cs = await ciphersuite();
      const message = decodeMessage(bytes, ["mls_private_message", "mls_public_message"]);
      const framing = message.wireformat === "mls_private_message" ? message.privateMessage : message.publicMessage.content;
      if (!equalBytes(framing.groupId, state.groupContext.groupId) || framing.epoch !== state.groupContext.epoch) {
        throw new MlsError("wrong_group", "commit for another group or epoch");
      }
      const ownLeafIndex = Number(state.privatePath.leafIndex);
      let removesUs = false;
      // Seen once the commit is authenticated (signature; decrypted if private) and its
      // proposals validated. Only a commit is acceptable: a standalone proposal is rejected.
      // A commit that removes us is rejected here too and we record that we are out: ts-mls
      // would try to decrypt its update path when the same commit adds someone into our old
      // leaf (a replace) and fail.
      const decide = (incoming) => {
        if (incoming.kind !== "commit") return "reject";
        removesUs = incoming.proposals.some(
          ({ proposal }) => proposal.proposalType === "remove" && proposal.remove.removed === ownLeafIndex,
        );
        return removesUs ? "reject" : "accept";
      };
      let result;
      try {
        result = await processMessage(message, state, emptyPskIndex, decide, cs);
      } catch (error) {
        throw new MlsError("bad_message", `commit refused: ${error.message}`, { cause: error });
      }
      if (removesUs) {
        this.#state = { ...state, groupActiveState: { kind: "removedFromGroup" } };
        return;
      }
      if (result.kind !== "newState" || result.actionTaken !== "accept") {
        throw new MlsError("bad_message", "not a commit");
      }
      if (result.newState.groupActiveState.kind === "active") leaves(result.newState);
      result.consumed.forEach(zeroOutUint8Array);
      this.#state = result.newState;
    });
  }

  get inGroup() {
    return this.#state !== null && this.#state.groupActiveState.kind === "active";
  }

  get epoch() {
    return Number(this.#activeState().groupContext.epoch);
  }

  get groupId() {
    return toHex(this.#activeState().groupContext.groupId);
  }

  get ownLeafIndex() {
    return Number(this.#activeState().privatePath.leafIndex);
  }

  members() {
    return leaves(this.#activeState()).map(({ leafIndex, identity }) => ({ leafIndex, ...identity }));
  }

  async exportMediaKey() {
    const state = this.#activeState();
    const cs = await ciphersuite();
    const key = await mlsExporter(
      state.keySchedule.exporterSecret,
      MEDIA_KEY_LABEL,
      new Uint8Array(0),
      MEDIA_KEY_LENGTH,
      cs,
    );
    const epoch = Number(state.groupContext.epoch);
    return { keyId: epoch & 0xff, key, epoch };
  }

  // The epoch authenticator (RFC 9420 §8.7) read as one big-endian unsigned integer, reduced
  // mod 10^8: eight evenly spread digits, "4821 7730". Everyone in the same epoch of the same
  // group sees the same number; a member-in-the-middle would see a different one.
  async safetyNumber() {
    const authenticator = this.#activeState().keySchedule.epochAuthenticator;
    const value = authenticator.reduce((sum, byte) => (sum << 8n) | BigInt(byte), 0n);
    const digits = (value % 100_000_000n).toString().padStart(8, "0");
    return `${digits.slice(0, 4)} ${digits.slice(4)}`;
  }
}

export async function createMember(identity) {
  checkIdentity(identity);
  const cs = await ciphersuite();
  return new Member(identity, await cs.signature.keygen());
}
