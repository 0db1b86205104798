/** @ocidelta/registry */
export {};
