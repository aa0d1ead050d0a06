// The page's elements by id (templates/rooms/room.html).
export const $ = (id) => document.getElementById(id);
