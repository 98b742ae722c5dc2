// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Records transparency-log checkpoints (origin, tree size, root hash) on chain.
/// @notice One append-only history per log origin. A log that shows two histories is
/// caught here: the contract refuses a second, different root for a size it already
/// holds (a split view) and any size below the latest one (a truncated log). Anchoring
/// the same root again for the same size is refused too ("already anchored"): the first
/// anchoring's event is the evidence, and a retry reads it instead of writing twice.
contract CheckpointAnchor {
    /// The latest anchored size of one origin; `exists` tells size 0 from "never anchored".
    struct Head {
        uint64 size;
        bool exists;
    }

    /// keccak256(origin) => latest head.
    mapping(bytes32 => Head) private heads;
    /// keccak256(origin) => tree size => root hash (zero: not anchored).
    mapping(bytes32 => mapping(uint64 => bytes32)) private roots;

    /// Emitted once per anchored checkpoint.
    event CheckpointAnchored(
        bytes32 indexed originHash,
        uint64 indexed size,
        bytes32 root,
        string origin
    );

    /// Records (origin, size, root) or reverts with the reason it must not be recorded.
    function anchor(string calldata origin, uint64 size, bytes32 root) external {
        require(bytes(origin).length != 0, "CheckpointAnchor: empty origin");
        // RFC 9162 roots are SHA-256 outputs: zero is never one, and marks "absent" below.
        require(root != bytes32(0), "CheckpointAnchor: zero root");
        bytes32 key = keccak256(bytes(origin));
        bytes32 recorded = roots[key][size];
        if (recorded != bytes32(0)) {
            require(
                recorded == root,
                "CheckpointAnchor: a different root is already anchored for this size (split view)"
            );
            revert("CheckpointAnchor: already anchored");
        }
        Head memory head = heads[key];
        require(
            !head.exists || size > head.size,
            "CheckpointAnchor: size is smaller than the latest anchored size (truncated log)"
        );
        heads[key] = Head(size, true);
        roots[key][size] = root;
        emit CheckpointAnchored(key, size, root, origin);
    }

    /// The latest anchored (size, root) of an origin; (0, 0) if never anchored.
    function latest(string calldata origin) external view returns (uint64 size, bytes32 root) {
        bytes32 key = keccak256(bytes(origin));
        Head memory head = heads[key];
        return (head.size, roots[key][head.size]);
    }

    /// The root anchored for an origin at a tree size; zero if none.
    function rootAt(string calldata origin, uint64 size) external view returns (bytes32) {
        return roots[keccak256(bytes(origin))][size];
    }
}
