// SPDX-License-Identifier: MIT
// The ERC-721 the chain tests auction: OpenZeppelin's implementation, with an open mint.
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

contract TestNFT is ERC721 {
    constructor() ERC721("SothebAIs Test", "STEST") {}

    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }
}
