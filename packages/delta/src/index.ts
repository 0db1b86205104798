/** @ocidelta/delta */
export {};
